import { defineProject } from 'vitest/config';

export default defineProject({
  test: {
    name: 'jwks',
    include: ['test/**/*.test.ts'],
  },
});
