import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Database-backed suites each start their own embedded database; running
    // files in parallel on a 2-core machine only makes them slower.
    fileParallelism: false,
    pool: 'forks',
  },
});
