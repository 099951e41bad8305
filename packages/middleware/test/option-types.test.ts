import { MemoryCsrfTokenStore, MemoryIdempotencyStore, MemoryRateLimitStore } from '@stowage/stores-memory';
import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import * as express from '../src/express.js';
import * as fastify from '../src/fastify.js';
import * as hono from '../src/hono.js';
import { CsrfProtection, IdempotencyGuard, RateLimiter } from '../src/index.js';

// An option of the wrong type is refused when the middleware is made, never read as its
// default: `required: 'true'` (from an environment variable) ran a handler twice without a
// key, `consume: 'true'` let one CSRF token through three times, and `cost: 2` failed every
// request with a TypeError.

const limits = new MemoryRateLimitStore();
const keys = new MemoryIdempotencyStore();
const tokens = new MemoryCsrfTokenStore();
const policies = { algorithm: 'fixed-window', limit: 1, windowMs: 1000 } as const;

const FAILURE: [string, unknown][] = [
  ['failOpen', 'true'],
  ['onStoreError', 'log'],
];
const IDEMPOTENCY: [string, unknown][] = [
  ['required', 'true'],
  ['methods', 'POST'],
  ['methods', [1]],
  ['methods', ['PO ST']],
  ['headerName', 5],
  ['headerName', 'Idempotency Key'],
  ['excludeHeaders', 'x-a'],
  ['shouldStore', true],
];
const CSRF: [string, unknown][] = [
  ['consume', 'true'],
  ['headerName', 5],
  ['fieldName', 5],
  ['fieldName', ''],
  ['methods', 'POST'],
];

const MAKERS: [string, (extra: object) => unknown, [string, unknown][]][] = [
  ['RateLimiter', (o) => new RateLimiter({ store: limits, policies, ...o }), FAILURE],
  ['IdempotencyGuard', (o) => new IdempotencyGuard({ store: keys, ...o }), [...FAILURE, ...IDEMPOTENCY]],
  ['CsrfProtection', (o) => new CsrfProtection({ store: tokens, ...o }), [...FAILURE, ...CSRF]],
  ['express rateLimit', (o) => express.rateLimit({ store: limits, policies, ...o }), [...FAILURE, ['key', 'ip'], ['cost', 2]]],
  ['express idempotency', (o) => express.idempotency({ store: keys, ...o }), [...IDEMPOTENCY, ['principal', 'user']]],
  ['express csrf', (o) => express.csrf({ store: tokens, ...o }), [...CSRF, ['sessionId', 'abc']]],
  [
    'hono rateLimit',
    (o) => hono.rateLimit({ store: limits, policies, ...o }),
    [
      ['key', 'ip'],
      ['cost', 2],
    ],
  ],
  ['hono idempotency', (o) => hono.idempotency({ store: keys, ...o }), [...IDEMPOTENCY, ['principal', 'user']]],
  ['hono csrf', (o) => hono.csrf({ store: tokens, sessionId: () => 's', ...o }), CSRF],
];

describe('middleware options: a value of the wrong type is INVALID_ARGUMENT, naming the option', () => {
  it.each(MAKERS)('%s', (_, make, cases) => {
    for (const [name, value] of cases) {
      expect(() => make({ [name]: value }), `${name}: ${JSON.stringify(value)}`).toThrow(
        expect.objectContaining({ code: 'INVALID_ARGUMENT', details: { field: expect.stringMatching(new RegExp(`^options\\.${name}`)) } }),
      );
    }
  });

  it('the right types are taken, as before', () => {
    new IdempotencyGuard({
      store: keys,
      required: true,
      methods: ['post', 'PUT'],
      headerName: 'X-Key',
      excludeHeaders: ['Set-Cookie'],
      shouldStore: () => true,
      failOpen: false,
      onStoreError: () => {},
    });
    new CsrfProtection({ store: tokens, consume: true, headerName: 'X-Token', fieldName: 'token', methods: ['DELETE'] });
    express.rateLimit({ store: limits, policies, key: () => 'k', cost: () => 2 });
  });

  it.each([
    [
      'fastify idempotency',
      (o: object) => Fastify().register(fastify.idempotency, { store: keys, ...o }),
      [...IDEMPOTENCY, ['principal', 'user']],
    ],
    ['fastify csrf', (o: object) => Fastify().register(fastify.csrf, { store: tokens, ...o }), [...CSRF, ['sessionId', 'abc']]],
  ] as const)('%s', async (_, register, cases) => {
    for (const [name, value] of cases) {
      const app = register({ [name]: value });
      await expect(app.ready(), name).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
      await app.close();
    }
  });
});
