// `npm run provision:temporal`: make sure the temporal CLI is there before tests need it.
import { ensureTemporalBinary } from './binary';

ensureTemporalBinary().then(
  (bin) => process.stdout.write(`temporal CLI: ${bin}\n`),
  (err: Error) => {
    process.stderr.write(`cannot provision the temporal CLI: ${err.message}\n`);
    process.exitCode = 1;
  },
);
