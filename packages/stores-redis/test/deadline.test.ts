import { newNamespace, type ErrorLike } from '@stowage/conformance';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  RedisCsrfTokenStore,
  RedisIdempotencyStore,
  RedisJwksCacheStore,
  RedisLockStore,
  RedisRateLimitStore,
  RedisSessionStore,
  RedisStreamStore,
  type RedisStoreOptions,
} from '../src/index.js';
import { serverClockOf } from '../src/server-clock.js';
import { connect, DRIVERS, type TestClient } from './clients.js';
import { startServer, type LocalCluster } from './helpers.js';
import { shiftOurClock } from './our-clock.js';
import { clockSamples, dataCommands, errorReplies, pause, resetStats, scriptOutcomes } from './server-stats.js';

// A redis-server of this file's own: the tests pause it (which would stall every other test
// file on a shared server) and count exactly what it received.
let server: LocalCluster;
let admin: Redis;
beforeAll(async () => {
  server = await startServer();
  admin = new Redis({ host: '127.0.0.1', port: server.ports[0] });
  await admin.ping();
});
afterAll(async () => {
  await admin?.call('CLIENT', 'UNPAUSE').catch(() => {});
  admin?.disconnect();
  server?.stop();
});

/** The stores' client, on the driver of the describe block that runs. */
let store: TestClient;

/** Every store on the test server, with a time limit of their own far above the deadlines used. */
function stores(prefix = newNamespace()) {
  const o: RedisStoreOptions = { client: store.client, prefix, timeoutMs: 5000 };
  return {
    sessions: new RedisSessionStore(o),
    limits: new RedisRateLimitStore(o),
    idempotency: new RedisIdempotencyStore(o),
    csrf: new RedisCsrfTokenStore(o),
    locks: new RedisLockStore(o),
    jwks: new RedisJwksCacheStore(o),
    streams: new RedisStreamStore(o),
  };
}

// GCRA, not a fixed window: a window aligned to the epoch minute could end mid-test and reset the count.
const policy = { algorithm: 'gcra', limit: 10, windowMs: 3_600_000 } as const;
const MINUTE = 60_000;
const text = (b: Uint8Array | undefined) => Buffer.from(b ?? []).toString();

/** How each call ended and when, in ms after `startedAt`. */
async function outcomes(startedAt: number, calls: Promise<unknown>[]) {
  return Promise.all(
    calls.map((call) =>
      call.then(
        () => ({ code: 'OK', ms: Date.now() - startedAt, deadline: undefined as unknown }),
        (err: ErrorLike) => ({ code: err.code as string, ms: Date.now() - startedAt, deadline: err.details?.deadline }),
      ),
    ),
  );
}

describe.each(DRIVERS)('%s', (driver) => {
  beforeAll(async () => {
    store = connect(driver, server.ports[0]!);
    await store.connected;
  });
  afterAll(() => store?.close());

  describe("the caller's deadline on a paused Redis", () => {
    it('every write with a 150 ms deadline is TIMEOUT by it, long before the 5 s limit, and none takes effect after the pause', async () => {
      const s = stores();
      for (let i = 0; i < 3; i++) await s.limits.consume('k', policy);
      const csrfToken = await s.csrf.issue('sid', { ttlMs: MINUTE });
      await s.sessions.set('s', Buffer.from('old'), { ttlMs: MINUTE });
      await s.streams.create('st', { contentType: 'text/plain' }, { messages: [Buffer.from('first')] });
      await resetStats([admin]);

      // Redis holds every script for 2 s: the calls queue there, as behind a stalled server.
      await pause([admin], 2000);
      const startedAt = Date.now();
      const deadline = startedAt + 150;
      const results = await outcomes(startedAt, [
        ...Array.from({ length: 5 }, () => s.limits.consume('k', policy, { deadline })),
        s.limits.reset('k', { deadline }),
        s.idempotency.reserve('scope', 'key', 'fp', { leaseMs: MINUTE, deadline }),
        s.csrf.validate('sid', csrfToken, { consume: true, deadline }),
        s.sessions.set('s', Buffer.from('new'), { ttlMs: MINUTE, deadline }),
        s.locks.acquire('lock', { ttlMs: MINUTE, deadline }),
        s.streams.append('st', [Buffer.from('second')], { deadline }),
        s.jwks.put('https://issuer.example/jwks', '{"keys":[]}', { fetchedAt: startedAt, ttlMs: MINUTE, deadline }),
      ]);
      expect(results.map((r) => r.code)).toEqual(Array(12).fill('TIMEOUT'));
      for (const r of results) {
        expect(r.deadline).toBe(deadline); // the caller's deadline set the budget
        expect(r.ms).toBeLessThan(1500); // answered while Redis was still paused, far before 5 s
      }

      // A command behind them on the same connection is answered once they have all run.
      await store.drained();
      // Every call that reached Redis did so after its deadline and was refused there. A call whose
      // deadline came while the client still held it is never sent (a loaded machine), so the count
      // is that of the script runs, both read from one INFO (see deadline-cluster.test.ts).
      const { runs, replies } = await scriptOutcomes([admin], 'STOWAGE_LATE');
      expect(runs).toBeGreaterThan(0);
      expect(runs).toBeLessThanOrEqual(12);
      expect(replies).toBe(runs);
      expect((await s.limits.peek('k', policy)).remaining).toBe(7); // neither the consumes nor the reset
      expect((await s.idempotency.reserve('scope', 'key', 'fp', { leaseMs: MINUTE })).state).toBe('reserved');
      expect(await s.csrf.validate('sid', csrfToken)).toBe(true);
      const session = await s.sessions.get('s');
      expect([text(session?.data), session?.version]).toEqual(['old', 1]);
      expect((await s.locks.acquire('lock', { ttlMs: MINUTE }))?.fence).toBe(1);
      expect((await s.streams.read('st', '-1')).messages.map((m) => text(m.data))).toEqual(['first']);
      expect(await s.jwks.get('https://issuer.example/jwks')).toBeUndefined();
    }, 20_000);

    it('reads too (plain HMGET and scripts) answer TIMEOUT by the deadline when Redis holds every command', async () => {
      const s = stores();
      await s.sessions.set('s', Buffer.from('x'), { ttlMs: MINUTE });
      await s.streams.create('st', { contentType: 'text/plain' });
      await pause([admin], 1500, 'ALL');
      const startedAt = Date.now();
      const deadline = startedAt + 150;
      const results = await outcomes(startedAt, [
        s.sessions.get('s', { deadline }),
        s.streams.read('st', '-1', { deadline }),
        s.streams.head('st', { deadline }),
        s.jwks.get('https://issuer.example/jwks', { deadline }),
        s.limits.peek('k', policy, { deadline }),
      ]);
      expect(results.map((r) => r.code)).toEqual(Array(5).fill('TIMEOUT'));
      for (const r of results) expect(r.ms).toBeLessThan(1200);
      await store.drained();
      expect(text((await s.sessions.get('s'))?.data)).toBe('x');
    }, 20_000);

    it('a Redis clock ahead of ours is learnt from the refusal and the call retried within the deadline', async () => {
      const own = connect(driver, server.ports[0]!); // the clock sample is per client
      await own.connected;
      const limits = new RedisRateLimitStore({ client: own.client, prefix: newNamespace(), timeoutMs: 5000 });
      await limits.consume('warm', policy); // samples Redis's clock (about our own)
      // Then our clock steps back 5 s: the deadline we send has already passed by Redis's clock.
      const ours = shiftOurClock(() => -5000);
      try {
        await resetStats([admin]);
        const d = await limits.consume('k', policy, { deadline: Date.now() + 1000 });
        expect(d.remaining).toBe(9);
        expect(await errorReplies([admin], 'STOWAGE_LATE')).toBe(1);
        expect(serverClockOf(own.client).offsetMs).toBeGreaterThan(4000);
        expect(await clockSamples([admin]), 'no sample due: the refusal taught it').toBe(0);
      } finally {
        ours.mockRestore();
        own.close();
      }
    });

    it('our wall clock stepping 5 s ahead after the sample moves no deadline sent: calls told TIMEOUT change nothing', async () => {
      const own = connect(driver, server.ports[0]!); // the clock sample is per client
      await own.connected;
      const prefix = newNamespace();
      const limits = new RedisRateLimitStore({ client: own.client, prefix, timeoutMs: 5000 });
      const sessions = new RedisSessionStore({ client: own.client, prefix, timeoutMs: 5000 });
      await limits.consume('warm', policy); // samples Redis's clock (about our own)
      await sessions.set('warm', Buffer.from('x'), { ttlMs: MINUTE });
      // NTP or a resumed VM steps Date.now() only; before, every deadline sent was 5 s late.
      const ours = shiftOurClock(() => 5000, true);
      try {
        await pause([admin], 1500, 'ALL');
        const startedAt = Date.now();
        const results = await outcomes(startedAt, [
          limits.consume('k', policy, { deadline: startedAt + 150 }),
          sessions.set('s', Buffer.from('x'), { ttlMs: MINUTE, deadline: startedAt + 150 }),
        ]);
        expect(results.map((r) => r.code)).toEqual(['TIMEOUT', 'TIMEOUT']);
        await own.drained();
        expect((await limits.peek('k', policy)).remaining).toBe(10);
        expect(await sessions.get('s')).toBeUndefined();
      } finally {
        ours.mockRestore();
        own.close();
      }
    }, 20_000);
  });

  describe('a deadline already passed', () => {
    it('every method rejects with TIMEOUT and Redis receives no command at all', async () => {
      const s = stores();
      // Tokens and state for the methods that need them, and every script loaded, before counting.
      const reservation = await s.idempotency.reserve('scope', 'key', 'fp', { leaseMs: MINUTE });
      const idemToken = reservation.state === 'reserved' ? reservation.token : '';
      const lease = (await s.locks.acquire('lock', { ttlMs: MINUTE }))!;
      await s.limits.consume('warm', policy);
      await resetStats([admin]);

      const deadline = Date.now() - 1;
      const o = { deadline };
      const calls: Array<() => Promise<unknown>> = [
        () => s.sessions.get('s', o),
        () => s.sessions.set('s', Buffer.from('x'), { ttlMs: MINUTE, deadline }),
        () => s.sessions.touch('s', MINUTE, o),
        () => s.sessions.destroy('s', o),
        () => s.sessions.rotate('s', 't', o),
        () => s.sessions.destroyByOwner('alice', o),
        () => s.limits.consume('k', policy, { cost: 2, deadline }),
        () => s.limits.peek('k', policy, o),
        () => s.limits.reset('k', o),
        () => s.idempotency.reserve('scope', 'other', 'fp', { leaseMs: MINUTE, deadline }),
        () =>
          s.idempotency.complete(
            'scope',
            'key',
            idemToken,
            { status: 200, headers: [], body: new Uint8Array() },
            { retentionMs: MINUTE, deadline },
          ),
        () => s.idempotency.release('scope', 'key', idemToken, o),
        () => s.idempotency.extend('scope', 'key', idemToken, MINUTE, o),
        () => s.csrf.issue('sid', { ttlMs: MINUTE, deadline }),
        () => s.csrf.validate('sid', 'a'.repeat(43), { consume: true, deadline }),
        () => s.csrf.revoke('sid', o),
        () => s.locks.acquire('other', { ttlMs: MINUTE, deadline }),
        () => s.locks.extend('lock', lease.token, MINUTE, o),
        () => s.locks.release('lock', lease.token, o),
        () => s.jwks.get('https://issuer.example/jwks', o),
        () => s.jwks.put('https://issuer.example/jwks', '{}', { fetchedAt: Date.now(), ttlMs: MINUTE, deadline }),
        () => s.streams.create('st', { contentType: 'text/plain' }, o),
        () => s.streams.append('st', [Buffer.from('m')], o),
        () => s.streams.read('st', '-1', o),
        () => s.streams.head('st', o),
        () => s.streams.closeStream('st', o),
        () => s.streams.delete('st', o),
      ];
      const results = await outcomes(
        Date.now(),
        calls.map((call) => call()),
      );
      expect(results.map((r) => r.code)).toEqual(Array(calls.length).fill('TIMEOUT'));
      expect(results.map((r) => r.deadline)).toEqual(Array(calls.length).fill(deadline));
      expect(await dataCommands([admin])).toEqual({});

      // The count sees a call that is sent: one script, one EVALSHA.
      await s.limits.consume('k', policy, { deadline: Date.now() + 1000 });
      expect((await dataCommands([admin])).evalsha).toBe(1);
      // And what the late calls would have changed is unchanged.
      expect(await s.idempotency.extend('scope', 'key', idemToken, MINUTE)).toBe(true);
      expect(await s.locks.release('lock', lease.token)).toBe(true);
    });

    it('bad arguments win over a passed deadline: INVALID_ARGUMENT, and a bad deadline is INVALID_ARGUMENT', async () => {
      const s = stores();
      const past = { deadline: Date.now() - 1000 };
      const codes = await outcomes(Date.now(), [
        s.sessions.get('', past),
        s.sessions.touch('s', 0, past),
        s.limits.consume('k', { ...policy, limit: -1 }, past),
        s.idempotency.extend('scope', 'key', 42 as unknown as string, MINUTE, past),
        s.streams.read('st', 'nowhere', past),
        s.sessions.get('s', { deadline: -5 }),
        s.locks.acquire('l', { ttlMs: MINUTE, deadline: 1.5 }),
        s.csrf.revoke('sid', { deadline: String(Date.now() + 1000) as unknown as number }),
      ]);
      expect(codes.map((r) => r.code)).toEqual(Array(8).fill('INVALID_ARGUMENT'));
    });
  });

  describe('a Redis that cannot be reached', () => {
    it('a call answers UNAVAILABLE by its deadline, not by the 5 s limit', async () => {
      // Nothing listens on port 1; the client keeps the calls in its offline queue and retries.
      const dead = connect(driver, 1, { retryEveryMs: 50 });
      const limits = new RedisRateLimitStore({ client: dead.client, timeoutMs: 5000 });
      const sessions = new RedisSessionStore({ client: dead.client, timeoutMs: 5000 });
      try {
        const startedAt = Date.now();
        const deadline = startedAt + 150;
        const results = await outcomes(startedAt, [limits.consume('k', policy, { deadline }), sessions.get('s', { deadline })]);
        expect(results.map((r) => r.code)).toEqual(['UNAVAILABLE', 'UNAVAILABLE']);
        for (const r of results) expect(r.ms).toBeLessThan(2000);
      } finally {
        dead.close();
      }
    });
  });
});
