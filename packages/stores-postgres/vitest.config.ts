import { defineProject } from 'vitest/config';

export default defineProject({
  test: {
    name: 'stores-postgres',
    include: ['test/**/*.test.ts'],
    // Containers start once per file; the suite runs once per image.
    hookTimeout: 180_000,
  },
});
