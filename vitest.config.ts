import { defineConfig } from 'vitest/config';

/**
 * Four projects. unit: no build, no root, nothing outside a temp dir, files in parallel. host: the
 * host-side shell run for real on this machine (root; its own run directory, never /run/vipush).
 * cli: the built CLI as a user runs it. e2e: real sshd processes in network namespaces; they share
 * the machine's two cores, so they run after the others, one file at a time.
 */
export default defineConfig({
  test: {
    projects: [
      // the time limits are hang guards: a loaded 2-core machine runs property tests several times slower
      { test: { name: 'unit', include: ['test/unit/**/*.test.ts'], testTimeout: 60_000 } },
      { test: { name: 'host', include: ['test/host/**/*.test.ts'], testTimeout: 60_000 } },
      { test: { name: 'cli', include: ['test/cli/**/*.test.ts'], globalSetup: ['test/build-once.ts'], testTimeout: 120_000 } },
      {
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          globalSetup: ['test/build-once.ts'],
          fileParallelism: false,
          sequence: { groupOrder: 1 },
          testTimeout: 120_000,
          hookTimeout: 180_000,
        },
      },
    ],
  },
});
