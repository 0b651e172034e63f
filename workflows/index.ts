// Every workflow type medic's workers register. The worker bundle is built from this file,
// and `medic validate` checks workflow configs against its exports.
export { ping } from './ping';
export { restartService } from './restart-service';
export { rebootNode } from './reboot-node';
export { cleanDisk } from './clean-disk';
export { runbook } from './runbook';
