import { defineProject } from 'vitest/config';

export default defineProject({
  test: {
    name: 'stores-memory',
    include: ['test/**/*.test.ts'],
    // A limit that ends a hung test, not a measurement: a loaded CI machine stalls for seconds.
    testTimeout: 30_000,
    // The bounded-memory test measures the heap after a forced collection.
    execArgv: ['--expose-gc'],
  },
});
