// The old home of startProcess and waitForHttp: they live in ./medic-process, the one process helper.
export { startProcess, waitForHttp, type Proc } from './medic-process';
