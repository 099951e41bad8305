import { newNamespace } from '@stowage/conformance';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisStreamStore } from '../src/index.js';
import { connect, DRIVERS, type TestClient } from './clients.js';
import { RedisRelay } from './relay.js';

// The store's clients reach Redis through a relay, which takes Redis away from them (cuts
// their connections, refuses new ones, counting each refused attempt) while the server, shared
// with other suites, runs on. An outage must give one `subscribe` report, however many
// reconnect attempts and waits it holds; the next outage, once it was subscribed again, one more.

const target = Number(new URL(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379').port || 6379);
let admin: Redis;
beforeAll(async () => {
  admin = new Redis({ host: '127.0.0.1', port: target });
  await admin.ping();
});
afterAll(() => admin?.disconnect());

/** Polls until `ready()` holds; the limit only ends a hung test, it measures nothing. */
async function until(ready: () => boolean | Promise<boolean>): Promise<void> {
  for (let i = 0; i < 2000 && !(await ready()); i++) await new Promise((r) => setTimeout(r, 10));
  expect(await ready()).toBe(true);
}

const subscribers = async (prefix: string) => ((await admin.pubsub('NUMSUB', `${prefix}{streams}:events`)) as [string, number])[1];

describe.each(DRIVERS)('%s', (driver) => {
  it('one subscribe report per outage: none for its further reconnect attempts and waits, one for the next outage', async () => {
    const relay = await RedisRelay.start(target);
    const c: TestClient = connect(driver, relay.port, { retryEveryMs: 20 });
    const other = connect(driver, target);
    const prefix = newNamespace();
    const reports: string[] = [];
    const a = new RedisStreamStore({
      client: c.client,
      prefix,
      onError: (e, context) => reports.push(`${context.operation} ${e.code}`),
    });
    const b = new RedisStreamStore({ client: other.client, prefix });
    try {
      await c.connected;
      await other.connected;
      await a.create('s', { contentType: 'text/plain' });
      const tail = async () => (await a.head('s'))!.nextOffset;
      /** Three waits, each ended by this store's own append (which needs no subscriber). */
      const ownWaits = async () => {
        for (let i = 0; i < 3; i++) {
          const waiting = a.wait('s', await tail(), 60_000);
          await a.append('s', [Buffer.from('own')]);
          expect(await waiting).toBe('data');
        }
      };
      /** Subscribed again: another store's append wakes a wait, which only the subscriber hears. */
      const hears = async () => {
        await until(async () => (await subscribers(prefix)) === 1);
        const waiting = a.wait('s', await tail(), 60_000);
        await b.append('s', [Buffer.from('other')]);
        expect(await waiting).toBe('data');
      };
      /** The relay refuses until `attempts` more connections were refused. */
      const refuseFor = async (attempts: number) => {
        const from = relay.refused;
        await until(() => relay.refused >= from + attempts);
      };

      // 1. It cannot subscribe: its connection is refused from the start, while the client's
      // own connection serves on. Three waits try to subscribe, each waits its time limit.
      relay.refuse();
      const waits = [0, 1, 2].map(async () => a.wait('s', await tail(), 60_000));
      await refuseFor(3);
      await until(() => reports.length >= 1);
      await a.append('s', [Buffer.from('x')]);
      expect(await Promise.all(waits)).toEqual(['data', 'data', 'data']);
      await refuseFor(3);
      expect(reports).toEqual(['subscribe UNAVAILABLE']);
      relay.accept();
      await hears();

      // 2. Its connection is lost and kept out: several attempts, three waits, one report.
      for (const outage of [2, 3]) {
        relay.refuse();
        relay.cut('subscribers');
        await refuseFor(3);
        await ownWaits();
        await refuseFor(3);
        expect(reports).toHaveLength(outage);
        relay.accept();
        await hears();
      }
      expect(c.ready()).toBe(true); // the client's own connection was never cut
      expect(reports).toEqual(['subscribe UNAVAILABLE', 'subscribe UNAVAILABLE', 'subscribe UNAVAILABLE']);
    } finally {
      await a.close();
      await b.close();
      c.close();
      other.close();
      await relay.close();
    }
  }, 60_000);
});
