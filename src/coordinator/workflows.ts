// The ledger bundle's entry: every workflow the coordinators' ledger workers run, and nothing else.
export { medicAdmissionLedger } from '../ledger/workflow';
export { medicFleetLedger } from '../ledger/fleet/workflow';
export { medicCloseWatcher } from '../watcher/workflow';
export { medicApproval } from '../approval/workflow';
export { medicAuditJournal } from '../audit/workflow';
