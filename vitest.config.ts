import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    setupFiles: ['test/setup/fast-check.ts'],
    // Integration tests bind real sockets and spawn real clients (curl, ssh): give them room on a
    // shared 2-core machine, but never assert on timing.
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
  },
});
