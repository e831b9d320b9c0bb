import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    setupFiles: ['test/setup/fast-check.ts'],
    // CI also keeps a machine-readable summary (.ci/run prints its counts as the closing line).
    reporters: process.env.CI ? ['default', 'json'] : ['default'],
    outputFile: { json: 'test-results.json' },
    // Integration tests bind real sockets and spawn real clients (curl, ssh): give them room on a
    // shared 2-core machine, but never assert on timing.
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
  },
});
