import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 300_000,
    // Two cores in CI: files that train or load real models must not fight over them.
    fileParallelism: false,
    // The JSON report is what .ci/run summarises into its closing "N passed, N failed" line.
    reporters: ['default', ['json', { outputFile: '.test-results/vitest.json' }]],
  },
});
