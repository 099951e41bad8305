import { defineProject } from 'vitest/config';

export default defineProject({
  test: {
    name: 'stores-sqlite',
    include: ['test/**/*.test.ts'],
  },
});
