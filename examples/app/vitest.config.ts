import { defineProject } from 'vitest/config';

export default defineProject({
  test: {
    name: 'example-app',
    include: ['test/**/*.test.ts'],
  },
});
