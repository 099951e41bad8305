import { defineProject } from 'vitest/config';

export default defineProject({
  test: {
    name: 'stores-memory',
    include: ['test/**/*.test.ts'],
    // The bounded-memory test measures the heap after a forced collection.
    execArgv: ['--expose-gc'],
  },
});
