import { defineProject } from 'vitest/config';

export default defineProject({
  test: {
    name: 'stores-postgres',
    include: ['test/**/*.test.ts'],
    // A limit that ends a hung test, not a measurement: a loaded CI machine stalls for seconds.
    testTimeout: 30_000,
    // Containers start once per file; the suite runs once per image.
    hookTimeout: 180_000,
  },
});
