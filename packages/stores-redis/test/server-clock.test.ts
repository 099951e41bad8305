import { newNamespace, type ErrorLike } from '@stowage/conformance';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { RedisLockStore, RedisRateLimitStore, RedisSessionStore, type RedisStoreOptions } from '../src/index.js';
import { serverClockOf } from '../src/server-clock.js';
import { type ConnectOptions, connect, DRIVERS, type Driver, type TestClient } from './clients.js';
import { startServer, type LocalCluster } from './helpers.js';
import { shiftOurClock } from './our-clock.js';
import { clockSamples, dataCommands, pause, resetStats, scriptOutcomes, scriptRuns } from './server-stats.js';

// A redis-server of this file's own: the tests pause it and count exactly what it received.
let server: LocalCluster;
let admin: Redis;
/** Clients of the tests (a fresh one per test: the clock sample is per client). */
const clients: TestClient[] = [];
const fresh = (driver: Driver, options: ConnectOptions = {}) => {
  const c = connect(driver, server.ports[0]!, options);
  clients.push(c);
  return c;
};
beforeAll(async () => {
  server = await startServer();
  admin = new Redis({ host: '127.0.0.1', port: server.ports[0] });
  // Every script used below loaded once, so each call is one EVALSHA.
  const loader = fresh('ioredis');
  await loader.connected;
  const o: RedisStoreOptions = { client: loader.client, prefix: newNamespace() };
  await new RedisRateLimitStore(o).consume('k', policy);
  await new RedisSessionStore(o).set('s', Buffer.from('x'), { ttlMs: MINUTE });
  await new RedisLockStore(o).acquire('l', { ttlMs: MINUTE });
});
afterEach(async () => {
  await admin.call('CLIENT', 'UNPAUSE');
});
afterAll(async () => {
  for (const c of clients) c.close();
  admin?.disconnect();
  server?.stop();
});

// GCRA, not a fixed window: a window aligned to the epoch minute could end mid-test and reset the count.
const policy = { algorithm: 'gcra', limit: 10, windowMs: 3_600_000 } as const;
const MINUTE = 60_000;
const outcome = (p: Promise<unknown>) =>
  p.then(
    () => 'OK',
    (e: ErrorLike) => e.code as string,
  );

describe.each(DRIVERS)("Redis's clock, sampled before a client's first script (%s)", (driver) => {
  it('a Redis clock 5 s behind ours: writes told TIMEOUT are refused when the pause ends, and none takes effect', async () => {
    const c = fresh(driver);
    await c.connected;
    const o: RedisStoreOptions = { client: c.client, prefix: newNamespace(), timeoutMs: 5000 };
    const [limits, sessions, locks] = [new RedisRateLimitStore(o), new RedisSessionStore(o), new RedisLockStore(o)];
    const ours = shiftOurClock(() => 5000); // our clock 5 s ahead: Redis's runs 5 s behind it
    try {
      await resetStats([admin]);
      // Redis holds every script for 3 s (TIME is no write: the sample goes through, well within
      // the 800 ms deadline even on a loaded machine).
      await pause([admin], 3000);
      const startedAt = Date.now();
      const deadline = startedAt + 800;
      const codes = await Promise.all([
        outcome(limits.consume('k', policy, { deadline })),
        outcome(sessions.set('s', Buffer.from('late'), { ttlMs: MINUTE, deadline })),
        outcome(locks.acquire('l', { ttlMs: MINUTE, deadline })),
      ]);
      expect(codes).toEqual(['TIMEOUT', 'TIMEOUT', 'TIMEOUT']);
      expect(Date.now() - startedAt, 'answered while Redis was still paused').toBeLessThan(2500);
      await c.drained(); // behind the scripts on the connection: they have run or been refused
      const samples = await clockSamples([admin]);
      // A call whose deadline came while the client still held it is never sent (a loaded
      // machine): every one that was sent ran late and was refused, counted from one INFO.
      const { runs, replies: refused } = await scriptOutcomes([admin], 'STOWAGE_LATE');
      // Without the sample the deadline sent would be 5 s later by Redis's clock: all three would run.
      expect((await limits.peek('k', policy)).remaining, 'the consume was not counted').toBe(10);
      expect(await sessions.get('s'), 'the session was not written').toBeUndefined();
      expect((await locks.acquire('l', { ttlMs: MINUTE }))?.fence, 'the lock was not taken').toBe(1);
      expect(runs).toBeGreaterThan(0);
      expect(runs).toBeLessThanOrEqual(3);
      expect(refused).toBe(runs);
      expect(samples, "one sample for the client's three stores").toBe(1);
      expect(serverClockOf(c.client).offsetMs).toBeLessThan(-4000);
    } finally {
      ours.mockRestore();
    }
  }, 20_000);

  it('only the first script of a client waits for the sample; plain reads send none; a minute later one call refreshes it', async () => {
    const c = fresh(driver);
    await c.connected;
    const o: RedisStoreOptions = { client: c.client, prefix: newNamespace() };
    const [limits, sessions] = [new RedisRateLimitStore(o), new RedisSessionStore(o)];
    await resetStats([admin]);
    expect(await sessions.get('s')).toBeUndefined(); // HMGET: no deadline sent, no sample
    expect(await dataCommands([admin])).toEqual({ hmget: 1 });
    await limits.consume('k', policy);
    expect([await clockSamples([admin]), await scriptRuns([admin])]).toEqual([1, 1]);
    const sampledAt = serverClockOf(c.client).refreshAt;
    await sessions.set('s', Buffer.from('x'), { ttlMs: MINUTE });
    for (let i = 0; i < 5; i++) await limits.consume('k', policy);
    expect([await clockSamples([admin]), await scriptRuns([admin])]).toEqual([1, 7]);

    // A minute on: the next script starts a refresh, the ones after it do not.
    const ours = shiftOurClock(() => 61_000);
    try {
      await limits.consume('k', policy);
      await c.drained();
      expect(await clockSamples([admin])).toBe(2);
      for (let i = 0; i < 3; i++) await limits.consume('k', policy);
      expect([await clockSamples([admin]), await scriptRuns([admin])]).toEqual([2, 11]);
      expect(serverClockOf(c.client).refreshAt).toBeGreaterThan(sampledAt + 60_000);
    } finally {
      ours.mockRestore();
    }
  });

  it('a sample that fails fails the call as UNAVAILABLE with nothing sent; the next call samples again', async () => {
    // A client not connected yet fails a command at once (ioredis without its offline queue).
    const c = fresh(driver, { unconnected: true });
    const limits = new RedisRateLimitStore({ client: c.client, prefix: newNamespace() });
    await resetStats([admin]);
    expect(await outcome(limits.consume('k', policy, { deadline: Date.now() + 1000 }))).toBe('UNAVAILABLE');
    expect(await dataCommands([admin])).toEqual({});
    await c.open();
    expect((await limits.consume('k', policy)).remaining).toBe(9);
    expect([await clockSamples([admin]), await scriptRuns([admin])]).toEqual([1, 1]);
  });

  it('a sample Redis holds: the first call answers TIMEOUT by its deadline, sends no script, and a later call goes through', async () => {
    const c = fresh(driver);
    await c.connected;
    const limits = new RedisRateLimitStore({ client: c.client, prefix: newNamespace(), timeoutMs: 5000 });
    await resetStats([admin]);
    await pause([admin], 1500, 'ALL'); // holds TIME too
    const startedAt = Date.now();
    expect(await outcome(limits.consume('k', policy, { deadline: startedAt + 150 }))).toBe('TIMEOUT');
    expect(Date.now() - startedAt, 'answered while Redis was still paused').toBeLessThan(1200);
    await c.drained(); // the held TIME has been answered
    expect(await dataCommands([admin])).toEqual({ time: 1 }); // the consume itself was never sent
    expect((await limits.consume('k', policy)).remaining).toBe(9);
    expect([await clockSamples([admin]), await scriptRuns([admin])]).toEqual([1, 1]);
  });
});
