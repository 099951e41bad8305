import { defineProject } from 'vitest/config';

export default defineProject({
  test: {
    name: 'example-adapter-map',
    include: ['test/**/*.test.ts'],
  },
});
