import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // Every package and example with tests has its own vitest.config.ts (defineProject + name).
    projects: ['packages/*/vitest.config.ts', 'examples/*/vitest.config.ts'],
    // One container per requested image for the whole run, shared by the files (each in its
    // own namespace), instead of one per file.
    globalSetup: ['@stowage/conformance/global-setup'],
  },
});
