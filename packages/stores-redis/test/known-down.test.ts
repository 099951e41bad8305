import { newNamespace } from '@stowage/conformance';
import { StowageError } from '@stowage/core';
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { didNotRun } from '../src/base.js';
import { RedisRateLimitStore, RedisStreamStore } from '../src/index.js';
import { connect, DRIVERS, type TestClient } from './clients.js';
import { RedisRelay } from './relay.js';

// A client of one server known to be disconnected (a connect attempt failed since it was last
// ready) fails a store's calls at once with UNAVAILABLE, sending nothing, instead of queueing
// them for their deadline; a short blip (its first reconnect attempt succeeds) does not. The
// store's clients reach Redis through a relay that takes Redis away from them; the time limit
// is far longer than the test, so only failing at once settles a call while Redis is away.

const target = Number(new URL(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379').port || 6379);
const N = 5;

/** Polls until `ready()` holds; the limit only ends a hung test, it measures nothing. */
async function until(ready: () => boolean): Promise<void> {
  for (let i = 0; i < 2000 && !ready(); i++) await new Promise((r) => setTimeout(r, 10));
  expect(ready()).toBe(true);
}

async function untilAsync(ready: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 2000 && !(await ready()); i++) await new Promise((r) => setTimeout(r, 10));
  expect(await ready()).toBe(true);
}

type Outcome = { ok: true } | { code: string; didNotRun: boolean };
const outcome = (call: Promise<unknown>): Promise<Outcome> =>
  call.then(
    () => ({ ok: true }),
    (err: unknown) => ({ code: err instanceof StowageError ? err.code : String(err), didNotRun: didNotRun(err) }),
  );

describe.each(DRIVERS)('%s', (driver) => {
  /** A store's client through a relay, retrying every 20 ms for ever; and its `reconnecting` events, counted. */
  async function relayed() {
    const relay = await RedisRelay.start(target);
    const c: TestClient = connect(driver, relay.port, { retryEveryMs: 20 });
    await c.connected;
    const events = { reconnecting: 0 };
    (c.client as unknown as { on(e: string, f: () => void): void }).on('reconnecting', () => events.reconnecting++);
    return { relay, c, events };
  }

  it('known down: calls fail at once with UNAVAILABLE and never take effect; back up, calls succeed', async () => {
    const { relay, c, events } = await relayed();
    const direct = connect(driver, target);
    const prefix = newNamespace();
    const streams = new RedisStreamStore({ client: c.client, prefix, timeoutMs: 600_000 });
    const limits = new RedisRateLimitStore({ client: c.client, prefix, timeoutMs: 600_000 });
    const reader = new RedisStreamStore({ client: direct.client, prefix });
    const policy = { algorithm: 'fixed-window', limit: 1000, windowMs: 3_600_000 } as const;
    try {
      await direct.connected;
      const { info } = await streams.create('s', { contentType: 'text/plain' });
      expect((await limits.consume('k', policy)).remaining).toBe(999);
      // Redis goes away: the connection is lost, then a connect attempt fails.
      relay.refuse();
      relay.cut('all');
      await until(() => events.reconnecting >= 2);
      const calls = [
        ...Array.from({ length: N }, (_, i) => outcome(streams.append('s', [Buffer.from(`lost ${i}`)]))),
        ...Array.from({ length: N }, () => outcome(limits.consume('k', policy))),
        outcome(streams.wait('s', info.nextOffset, 600_000)),
      ];
      // Each settled before Redis is let back: none waited for its deadline.
      const settled: Outcome[] = [];
      for (const call of calls) void call.then((o) => settled.push(o));
      await new Promise((r) => setImmediate(r));
      expect(settled).toHaveLength(2 * N + 1);
      relay.accept();
      await until(c.ready);
      expect(await Promise.all(calls)).toEqual(Array(2 * N + 1).fill({ code: 'UNAVAILABLE', didNotRun: true }));
      // Nothing of them took effect, then or since the client is back; now calls succeed.
      expect((await reader.read('s', info.nextOffset)).messages).toHaveLength(0);
      for (let i = 0; i < N; i++) await streams.append('s', [Buffer.from(`back ${i}`)]);
      expect((await limits.consume('k', policy)).remaining).toBe(998);
      const after = await reader.read('s', info.nextOffset);
      expect(after.messages.map((m) => Buffer.from(m.data).toString())).toEqual(Array.from({ length: N }, (_, i) => `back ${i}`));
      expect(relay.refused).toBeGreaterThanOrEqual(1);
    } finally {
      await streams.close();
      await limits.close();
      await reader.close();
      c.close();
      direct.close();
      await relay.close();
    }
  });

  it('a wait pending when Redis goes away ends UNAVAILABLE once the client is known down; back up, waits wake again', async () => {
    const { relay, c, events } = await relayed();
    const direct = connect(driver, target);
    const prefix = newNamespace();
    // Time limits far past the test: only the known-down wake-up ends the wait while Redis is away.
    const streams = new RedisStreamStore({ client: c.client, prefix, timeoutMs: 600_000 });
    const writer = new RedisStreamStore({ client: direct.client, prefix });
    const admin = new Redis(target, '127.0.0.1');
    try {
      await direct.connected;
      const { info } = await streams.create('s', { contentType: 'text/plain' });
      let settled: Outcome | undefined;
      const pending = outcome(streams.wait('s', info.nextOffset, 600_000)).then((o) => (settled = o));
      // Cut once the wait is subscribed and its looks are answered: none is in flight to fail.
      const numsub = async () => ((await admin.pubsub('NUMSUB', `${prefix}{streams}:events`)) as [string, number])[1];
      await untilAsync(async () => (await numsub()) === 1);
      await new Promise((r) => setTimeout(r, 100));
      await streams.head('s');
      expect(settled).toBeUndefined();
      relay.refuse();
      relay.cut('all');
      await until(() => events.reconnecting >= 2);
      await until(() => settled !== undefined);
      expect(await pending).toMatchObject({ code: 'UNAVAILABLE' });
      // Nothing was appended meanwhile: the wait was not woken by data.
      expect((await writer.read('s', info.nextOffset)).messages).toHaveLength(0);
      relay.accept();
      await until(c.ready);
      const again = streams.wait('s', info.nextOffset, 600_000);
      await writer.append('s', [Buffer.from('back')]);
      expect(await again).toBe('data');
    } finally {
      await streams.close();
      await writer.close();
      admin.disconnect();
      c.close();
      direct.close();
      await relay.close();
    }
  });

  it('a short blip: calls made while it reconnects wait for it and succeed', async () => {
    const { relay, c, events } = await relayed();
    const prefix = newNamespace();
    const streams = new RedisStreamStore({ client: c.client, prefix, timeoutMs: 600_000 });
    try {
      const { info } = await streams.create('s', { contentType: 'text/plain' });
      let calls: Promise<Outcome>[] = [];
      // The connection is lost; the relay still accepts, so the first attempt succeeds.
      (c.client as unknown as { once(e: string, f: () => void): void }).once('reconnecting', () => {
        calls = Array.from({ length: N }, (_, i) => outcome(streams.append('s', [Buffer.from(`m${i}`)])));
      });
      relay.cut('all');
      await until(() => calls.length === N);
      expect(await Promise.all(calls)).toEqual(Array(N).fill({ ok: true }));
      expect(events.reconnecting).toBe(1);
      const read = await streams.read('s', info.nextOffset);
      expect(read.messages.map((m) => Buffer.from(m.data).toString()).sort()).toEqual(Array.from({ length: N }, (_, i) => `m${i}`));
    } finally {
      await streams.close();
      c.close();
      await relay.close();
    }
  });
});
