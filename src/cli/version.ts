import * as fs from 'node:fs';
import * as path from 'node:path';
import { packageRoot } from '../paths';
import { JSON_OPTION, type Command } from './command';

function versionOf(pkgJson: string): string {
  return (JSON.parse(fs.readFileSync(pkgJson, 'utf8')) as { version: string }).version;
}

export function medicVersion(): string {
  return versionOf(path.join(packageRoot(), 'package.json'));
}

export const versionCommand: Command = {
  name: 'version',
  summary: 'Print the medic version and the Temporal SDK version it was built with.',
  usage: 'version [--json]',
  options: { json: JSON_OPTION },
  async run(ctx) {
    const sdk = versionOf(require.resolve('@temporalio/worker/package.json'));
    const info = { medic: medicVersion(), temporalSdk: sdk, node: process.versions.node };
    ctx.stdout.write(
      ctx.values.json
        ? JSON.stringify(info) + '\n'
        : `medic ${info.medic} (Temporal SDK ${info.temporalSdk}, Node.js ${info.node})\n`,
    );
    return 0;
  },
};
