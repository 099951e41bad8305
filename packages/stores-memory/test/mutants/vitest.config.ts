import { defineConfig } from 'vitest/config';

// The child runs of mutants.test.ts; not a project of the root config (its glob takes
// packages/*/vitest.config.ts only).
export default defineConfig({
  test: {
    root: `${import.meta.dirname}/../..`,
    include: ['test/mutants/suite.fixture.ts'],
  },
});
