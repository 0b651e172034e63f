// A node worker process on the cluster for the cluster tests (kept out of helpers/cluster.ts,
// which the global setup and the benchmarks load without the SDK's worker).
import { spawnMedic, writeWorkerConfig, type MedicProcess } from '../helpers/medic-process';
import { workflowBundle } from '../helpers/temporal';
/** A node worker (`medic worker` with the run's workflow bundle, reboots dry-run) on `node`, config written to configDir. */
export function spawnNodeWorker(
  configDir: string,
  o: { datacenter: string; node: string; allowedCommands: string[]; temporalBlock: string },
): MedicProcess {
  const config = writeWorkerConfig(
    configDir,
    [
      `datacenter = "${o.datacenter}"`,
      'node_type = "generic"',
      `node = "${o.node}"`,
      `allowed_commands = ${JSON.stringify(o.allowedCommands)}`,
      'reboot_dry_run = true',
    ].join('\n'),
    o.temporalBlock,
  );
  return spawnMedic(['worker', '--config', config, '--workflow-bundle', workflowBundle().codePath]);
}
