/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  transform: {
    '/node_modules/(cookie|openid-client|oauth4webapi|jose)/.+\\.js$': ['@swc/jest', { module: { type: 'commonjs' } }],
    '^.+\\.ts$': [
      '@swc/jest',
      { jsc: { parser: { syntax: 'typescript' }, target: 'es2022' }, module: { type: 'commonjs' }, sourceMaps: 'inline' },
    ],
  },
  // light-my-request (fastify's inject) needs cookie@2, which ships only ES modules; Node 20
  // loads it with require(esm), jest does not, so jest compiles that one package. The same for
  // openid-client (the console's OIDC relying party) and the two ES-module packages it uses.
  transformIgnorePatterns: ['/node_modules/(?!(cookie|openid-client|oauth4webapi|jose)/)'],
  testMatch: ['<rootDir>/test/**/*.test.ts'],
  // test/cluster/ runs against a Temporal cluster on PostgreSQL: npm run test:cluster (jest.cluster.config.js).
  testPathIgnorePatterns: ['/node_modules/', '<rootDir>/test/cluster/'],
  // One real Temporal dev server for the whole run (see test/setup/temporal.ts).
  globalSetup: '<rootDir>/test/setup/global-setup.ts',
  globalTeardown: '<rootDir>/test/setup/global-teardown.ts',
  setupFiles: ['<rootDir>/test/setup/runtime.ts'],
  testTimeout: 60_000,
  // Two cores: integration tests run real servers and workers.
  maxWorkers: 2,
};
