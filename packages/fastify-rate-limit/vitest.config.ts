import { defineProject } from 'vitest/config';

export default defineProject({
  test: {
    name: 'fastify-rate-limit',
    include: ['test/**/*.test.ts'],
    // Tests wait for a fixed window to start (up to 6.5 s), then run through windows and pauses.
    testTimeout: 20_000,
    hookTimeout: 20_000,
  },
});
