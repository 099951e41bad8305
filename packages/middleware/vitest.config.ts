import { defineProject } from 'vitest/config';

export default defineProject({
  test: {
    name: 'middleware',
    include: ['test/**/*.test.ts'],
  },
});
