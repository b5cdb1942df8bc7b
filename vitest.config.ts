import { defineConfig } from 'vitest/config';

// With DATABASE_URL every test file gets its own database cloned from a migrated template, so files run in
// parallel. Without it, all files share one embedded PostgreSQL (a single session), so they run one at a time.
const realPostgres = Boolean(process.env.DATABASE_URL);

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    // Every answer a test receives from a host is checked against the OpenAPI document.
    setupFiles: ['test/support/openapi-fetch-hook.ts'],
    fileParallelism: realPostgres,
    maxWorkers: realPostgres ? 2 : 1,
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
  },
});
