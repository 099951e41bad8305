import { defineProject } from 'vitest/config';

export default defineProject({
  test: {
    name: 'jwks',
    include: ['test/**/*.test.ts'],
    // A limit that ends a hung test, not a measurement: a loaded CI machine stalls for seconds.
    testTimeout: 30_000,
  },
});
