// One run = one local Tahoe grid (test/support/global-setup.ts), shared by every integration suite.
const swcTransform = [
  '@swc/jest',
  {
    jsc: {
      parser: { syntax: 'typescript', decorators: true },
      transform: { legacyDecorator: true, decoratorMetadata: true },
      target: 'es2022',
    },
    module: { type: 'commonjs' },
    sourceMaps: 'inline',
  },
];

const common = {
  transform: { '^.+\\.ts$': swcTransform },
  moduleFileExtensions: ['ts', 'js', 'json'],
  testEnvironment: 'node',
};

/** @type {import('jest').Config} */
module.exports = {
  // The global setup and teardown are TypeScript too; the root needs the transform for them.
  transform: common.transform,
  globalSetup: '<rootDir>/test/support/global-setup.ts',
  globalTeardown: '<rootDir>/test/support/global-teardown.ts',
  maxWorkers: process.env.RIVERFS_TEST_WORKERS ?? 2,
  testTimeout: 120000,
  projects: [
    { ...common, displayName: 'unit', rootDir: __dirname, testMatch: ['<rootDir>/src/**/*.spec.ts'] },
    {
      ...common,
      displayName: 'integration',
      rootDir: __dirname,
      testMatch: ['<rootDir>/test/integration/**/*.int-spec.ts', '<rootDir>/test/e2e/**/*.e2e-spec.ts'],
    },
    {
      // Suites that stop or kill grid nodes: scripts/run-tests.js runs them after the others, one at a time.
      ...common,
      displayName: 'fault',
      rootDir: __dirname,
      testMatch: ['<rootDir>/test/fault/**/*.fault-spec.ts'],
    },
  ],
};
