import { describe, expect, it } from 'vitest';
import { type Backend, keyOf, POLICY, SCOPE, SESSION, target } from '../src/scale/targets.js';

// The bulk paths write rows the stores read as their own: a loaded key answers like one the
// store wrote itself. PostgreSQL and Redis join when their URLs are set (as in CI).
const backends: Backend[] = ['memory', 'sqlite'];
if (process.env.DATABASE_URL) backends.push('postgres');
if (process.env.REDIS_URL) backends.push('redis');

describe.each(backends)('scale bulk load on %s', (backend) => {
  it('loads live keys every store reads back, and expired rows its prune removes', { timeout: 60_000 }, async () => {
    const t = await target(backend);
    try {
      for (const c of ['rate-limit', 'session', 'idempotency'] as const) {
        await t.load(c, 0, 500);
        await t.load(c, 500, 1200);
      }
      for (const i of [0, 499, 500, 1199]) {
        expect(Buffer.from((await t.sessions.get(keyOf(i)))!.data)).toEqual(Buffer.from(SESSION));
        // Each copy carries the template's one consumed unit: this call is the second.
        expect((await t.rateLimit.consume(keyOf(i), POLICY)).remaining).toBe(POLICY.limit - 2);
        expect((await t.idempotency.reserve(SCOPE, keyOf(i), 'fp', { leaseMs: 60_000 })).state).toBe('completed');
      }
      expect(await t.sessions.get(keyOf(1200))).toBeUndefined();
      expect((await t.idempotency.reserve(SCOPE, keyOf(1200), 'fp', { leaseMs: 60_000 })).state).toBe('reserved');
      if (t.loadExpired) {
        await t.loadExpired(300, 'test');
        expect(await t.sessions.prune()).toBe(300);
        expect((await t.sessions.get(keyOf(1199)))?.data).toBeDefined();
      }
    } finally {
      await t.close();
    }
  });
});
