// The ledger bundle's entry: every workflow the coordinators' ledger workers run, and nothing else.
export { medicAdmissionLedger } from './workflow';
export { medicFleetLedger } from '../fleet/ledger/workflow';
export { medicCloseWatcher } from '../watcher/workflow';
