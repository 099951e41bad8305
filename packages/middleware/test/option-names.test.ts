import { MemoryCsrfTokenStore, MemoryIdempotencyStore, MemoryRateLimitStore } from '@stowage/stores-memory';
import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import * as express from '../src/express.js';
import * as fastify from '../src/fastify.js';
import * as hono from '../src/hono.js';
import { CsrfProtection, IdempotencyGuard, RateLimiter } from '../src/index.js';

const limits = new MemoryRateLimitStore();
const keys = new MemoryIdempotencyStore();
const tokens = new MemoryCsrfTokenStore();
const policies = { algorithm: 'fixed-window', limit: 1, windowMs: 1000 } as const;

/** Each way to make the middleware, with the options of its framework: accepted, and a misspelt one refused. */
const MAKERS: [string, (extra: object) => unknown, object][] = [
  ['RateLimiter', (o) => new RateLimiter({ store: limits, policies, ...o }), {}],
  ['IdempotencyGuard', (o) => new IdempotencyGuard({ store: keys, ...o }), {}],
  ['CsrfProtection', (o) => new CsrfProtection({ store: tokens, ...o }), {}],
  ['express rateLimit', (o) => express.rateLimit({ store: limits, policies, ...o }), { key: () => 'k', cost: () => 1 }],
  ['express idempotency', (o) => express.idempotency({ store: keys, ...o }), { principal: () => 'p' }],
  ['express csrf', (o) => express.csrf({ store: tokens, ...o }), { sessionId: () => 's' }],
  ['hono rateLimit', (o) => hono.rateLimit({ store: limits, policies, ...o }), { key: () => 'k', cost: () => 1 }],
  ['hono idempotency', (o) => hono.idempotency({ store: keys, ...o }), { principal: () => 'p' }],
  ['hono csrf', (o) => hono.csrf({ store: tokens, ...o }), { sessionId: () => 's' }],
];

describe('middleware options: a name it does not know is refused', () => {
  it("a binding of one's own names its options to the class, as the README shows", () => {
    expect(() => new RateLimiter({ store: limits, policies, key: () => 'k' } as never)).toThrow(/options\.key is not an option/);
    new RateLimiter({ store: limits, policies, key: () => 'k' } as never, { key: true });
  });

  it.each(MAKERS)('%s', (_, make, own) => {
    make({ ...own, timeoutMs: 100 });
    expect(() => make({ ...own, timeoutMS: 100 })).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT', details: { field: 'options.timeoutMS' } }),
    );
    expect(() => make({ ...own, timeoutMS: 100 })).toThrow(/options\.timeoutMS is not an option \(the options are .*timeoutMs/);
    // Past what a Node timer takes, the timer would fire at once: every store call failed in 1 ms.
    expect(() => make({ ...own, timeoutMs: 2 ** 31 })).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT', details: { field: 'options.timeoutMs' } }),
    );
    make({ ...own, timeoutMs: 2 ** 31 - 1 });
  });

  it.each([
    ['fastify idempotency', (o: object) => Fastify().register(fastify.idempotency, { store: keys, ...o }), { principal: () => 'p' }],
    ['fastify csrf', (o: object) => Fastify().register(fastify.csrf, { store: tokens, ...o }), { sessionId: () => 's' }],
  ])('%s', async (_, register, own) => {
    const ok = register({ ...own, timeoutMs: 100 });
    await ok.ready();
    await ok.close();
    // Fastify's own register options reach these unencapsulated plugins: taken, not refused.
    const shared = register({ ...own, prefix: '/api', logLevel: 'warn' });
    await shared.ready();
    await shared.close();
    const misspelt = register({ ...own, timeoutMS: 100 });
    await expect(misspelt.ready()).rejects.toThrow(/options\.timeoutMS is not an option/);
    await misspelt.close();
  });
});
