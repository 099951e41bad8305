import { defineProject } from 'vitest/config';

export default defineProject({
  test: {
    name: 'express-session',
    include: ['test/**/*.test.ts'],
  },
});
