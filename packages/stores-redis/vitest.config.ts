import { defineProject } from 'vitest/config';

export default defineProject({
  test: {
    name: 'stores-redis',
    include: ['test/**/*.test.ts'],
    hookTimeout: 180_000,
  },
});
