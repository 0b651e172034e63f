// The cluster suite (npm run test:cluster): medic against a Temporal server on PostgreSQL with
// frontend mTLS (test/setup/cluster/), not the dev server. Slow tests, one file at a time.
const base = require('./jest.config.js');

/** @type {import('jest').Config} */
module.exports = {
  ...base,
  testMatch: ['<rootDir>/test/cluster/**/*.test.ts'],
  testPathIgnorePatterns: ['/node_modules/'],
  globalSetup: '<rootDir>/test/setup/cluster-global-setup.ts',
  globalTeardown: '<rootDir>/test/setup/cluster-global-teardown.ts',
  testTimeout: 180_000,
  // Each file starts medic processes (and one its own cluster): one at a time on two cores.
  maxWorkers: 1,
};
