import { defineProject } from 'vitest/config';

export default defineProject({
  test: {
    name: 'koa-session',
    include: ['test/**/*.test.ts'],
  },
});
