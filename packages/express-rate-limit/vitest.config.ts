import { defineProject } from 'vitest/config';

export default defineProject({
  test: {
    name: 'express-rate-limit',
    include: ['test/**/*.test.ts'],
  },
});
