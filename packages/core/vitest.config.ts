import { defineProject } from 'vitest/config';

export default defineProject({
  test: {
    name: 'core',
    include: ['test/**/*.test.ts'],
    // Property tests replay thousands of ms by ms: about 2 s each on an idle machine, past the
    // default 5 s on a loaded one. The limit is for hangs, not for speed.
    testTimeout: 30_000,
  },
});
