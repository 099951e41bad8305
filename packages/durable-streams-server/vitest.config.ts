import { defineProject } from 'vitest/config';

export default defineProject({
  test: {
    name: 'durable-streams-server',
    include: ['test/**/*.test.ts'],
  },
});
