import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // Every package and example with tests has its own vitest.config.ts (defineProject + name).
    projects: ['packages/*/vitest.config.ts', 'examples/*/vitest.config.ts'],
    // One container per requested image for the whole run, shared by the files (each in its
    // own namespace), instead of one per file.
    globalSetup: ['@stowage/conformance/global-setup'],
    // Two files at a time. Vitest's default on a 2-core machine is one (cores - 1), and most
    // files wait on backends, timers and child processes rather than on the CPU. Files that
    // run a redis-server of their own pick a free port, so two files never share one.
    maxWorkers: 2,
  },
});
