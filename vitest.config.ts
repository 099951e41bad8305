import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // Every package and example with tests has its own vitest.config.ts (defineProject + name).
    projects: ['packages/*/vitest.config.ts', 'examples/*/vitest.config.ts'],
  },
});
