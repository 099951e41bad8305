import { newNamespace } from '@stowage/conformance';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisStreamStore } from '../src/index.js';
import { connect, DRIVERS, type TestClient } from './clients.js';
import { RedisRelay } from './relay.js';

// A wait's first look fixes the stream (its id) it waits on: it must not wait for the
// subscriber's first subscribe, which may take long (a Cluster's first one often takes a few
// hundred ms). Else a name re-created meanwhile is taken for the stream waited on, and the
// wait answers `data` of another stream. The relay holds the subscriber's connection (accepted,
// no answer) while the store's own connection serves on.

const target = Number(new URL(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379').port || 6379);
const TEXT = 'text/plain';
const msgs = (...parts: string[]) => parts.map((p) => Buffer.from(p));

let relay: RedisRelay;
let admin: Redis;
beforeAll(async () => {
  relay = await RedisRelay.start(target);
  admin = new Redis({ host: '127.0.0.1', port: target });
  await admin.ping();
});
afterAll(async () => {
  admin?.disconnect();
  await relay?.close();
});

/** Polls until `ready()` holds; the limit only ends a hung test, it measures nothing. */
async function until(ready: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 2000 && !(await ready()); i++) await new Promise((r) => setTimeout(r, 10));
  expect(await ready()).toBe(true);
}

const subscribers = async (prefix: string) => ((await admin.pubsub('NUMSUB', `${prefix}{streams}:events`)) as [string, number])[1];

describe.each(DRIVERS)('%s', (driver) => {
  it('a name re-created before the first subscribe answers: the pending wait answers missing, never the new stream data', async () => {
    const c: TestClient = connect(driver, relay.port);
    const other = connect(driver, target);
    const prefix = newNamespace();
    const reports: string[] = [];
    const a = new RedisStreamStore({ client: c.client, prefix, onError: (e, context) => reports.push(`${context.operation} ${e.code}`) });
    const b = new RedisStreamStore({ client: other.client, prefix });
    try {
      await c.connected;
      await other.connected;
      const { info } = await a.create('s', { contentType: TEXT }, { messages: msgs('a') });
      relay.hold();
      // Far longer than the test: it ends by a look, never by its timeout.
      const waiting = a.wait('s', info.nextOffset, 60_000);
      // One round trip on the store's connection: a first look sent before it was answered.
      expect((await a.head('s'))?.id).toBe(info.id);
      // Another replica deletes and re-creates the name, with data past the offset waited at.
      expect(await b.delete('s')).toBe(true);
      const again = await b.create('s', { contentType: TEXT }, { messages: msgs('x', 'y', 'z') });
      expect(again.info.id).not.toBe(info.id);
      relay.release();
      expect(await waiting).toBe('missing');
      // The subscribe, held until now, is answered: nothing went wrong meanwhile.
      await until(async () => (await subscribers(prefix)) === 1);
      expect(reports).toEqual([]);
    } finally {
      relay.release();
      await b.delete('s');
      await a.close();
      await b.close();
      c.close();
      other.close();
    }
  }, 30_000);
});
