// `medic version`: the medic version, the commit and date it was built from, and the Temporal
// SDK and Node.js it runs on. The packaged executable carries these facts (packaging/sea.ts);
// a checkout reads package.json and asks git.
import { buildInfo } from '../version';
import { JSON_OPTION, type Command } from '../command/command';

export const versionCommand: Command = {
  name: 'version',
  summary: 'Print the medic version, the commit and date it was built from, and its Temporal SDK and Node.js.',
  usage: 'version [--json]',
  options: { json: JSON_OPTION },
  async run(ctx) {
    const b = buildInfo();
    const out = {
      medic: b.version,
      commit: b.commit,
      buildDate: b.buildDate,
      temporalSdk: b.temporalSdk,
      node: process.versions.node,
    };
    ctx.stdout.write(
      ctx.values.json
        ? JSON.stringify(out) + '\n'
        : `medic ${out.medic} (Temporal SDK ${out.temporalSdk}, Node.js ${out.node})\ncommit ${out.commit}, built ${out.buildDate}\n`,
    );
    return 0;
  },
};
