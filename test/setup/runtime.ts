// Each test file runs in its own module registry: give the Temporal SDK a quiet logger
// (warnings and errors only) and leave signal handling to jest.
import { DefaultLogger, Runtime } from '@temporalio/worker';

try {
  Runtime.install({ logger: new DefaultLogger('WARN'), shutdownSignals: [] });
} catch {
  // Already installed in this registry by an earlier import: keep that one.
}
