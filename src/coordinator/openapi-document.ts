// The coordinator's OpenAPI document, generated from its route schemas. `npm run openapi`
// writes it to docs/openapi.json; a test checks that the served and checked-in ones agree.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DEFAULT_ALERTMANAGER } from '../config/callers';
import { packageRoot } from '../paths';
import { buildCoordinator } from './app';
import { LiveConfig } from './live-config';
import { createMetrics } from './metrics';
import { TemporalGateway } from '../temporal/gateway';

export async function openapiDocument(): Promise<unknown> {
  const coordinator = {
    file: 'coordinator.hcl',
    listen: { host: '127.0.0.1', port: 0 },
    enableTls: false,
    bodyLimit: 65536,
    routeRules: [],
    admission: { visibilityQps: 0 },
    temporal: { address: '127.0.0.1:1', namespace: 'default' },
    alertmanager: { ...DEFAULT_ALERTMANAGER },
  };
  // The document depends on the routes only; nothing here talks to Temporal.
  const temporal = TemporalGateway.connectInBackground(coordinator.temporal);
  await temporal.close();
  const app = await buildCoordinator({
    config: new LiveConfig(coordinator, new Map()),
    temporal,
    metrics: createMetrics({ defaultMetrics: false }),
    audit: () => undefined,
    log: () => undefined,
  });
  await app.ready();
  const doc = app.swagger();
  await app.close();
  return doc;
}

export function openapiPath(): string {
  return path.join(packageRoot(), 'docs', 'openapi.json');
}

if (require.main === module) {
  openapiDocument().then(
    (doc) => {
      fs.mkdirSync(path.dirname(openapiPath()), { recursive: true });
      fs.writeFileSync(openapiPath(), JSON.stringify(doc, null, 2) + '\n');
      process.stdout.write(`wrote ${path.relative(process.cwd(), openapiPath())}\n`);
    },
    (err: Error) => {
      process.stderr.write(`cannot generate the OpenAPI document: ${err.message}\n`);
      process.exitCode = 1;
    },
  );
}
