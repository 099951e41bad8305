import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { RedisStreamStore } from '../src/index.js';
import { connectCluster, type Driver, useLoopbackCluster } from './clients.js';

/** Polls until `ready()` holds; the limit only ends a hung test, it measures nothing. */
async function until(ready: () => boolean | Promise<boolean>): Promise<void> {
  for (let i = 0; i < 3000 && !(await ready()); i++) await new Promise((r) => setTimeout(r, 10));
  expect(await ready()).toBe(true);
}

// On a Cluster the stream store's subscriber is one connection to one node. Killed and kept
// out while another process appends, it misses that append's message: once it is back, the
// waiters must look again (as after any reconnect), not sleep until their timeout.
// node-redis only: ioredis's Cluster replaces its subscriber connection without any public
// event, so on an ioredis Cluster such a waiter wakes at its timeout (README, "Waits").
const HEARD: readonly Driver[] = ['node-redis'];
describe.each(HEARD)('%s Cluster', (driver) => {
  const held = useLoopbackCluster(driver);
  const admins: Redis[] = [];
  afterAll(() => {
    for (const a of admins) a.disconnect();
  });
  const nodes = () => {
    if (admins.length === 0) for (const port of held.cluster.ports) admins.push(new Redis({ host: '127.0.0.1', port }));
    return admins;
  };
  const subscribersOn = async (node: Redis, channel: string) => ((await node.pubsub('NUMSUB', channel)) as [string, number])[1];
  const connectedTo = async (node: Redis) => Number(/connected_clients:(\d+)/.exec(await node.info('clients'))![1]);

  it('a waiter whose subscriber was kept out during an append wakes once the subscriber is back', async () => {
    const prefix = `resub-${driver}:`;
    const channel = `${prefix}{streams}:events`;
    const other = connectCluster(driver, held.cluster.ports);
    await other.connected;
    // Every client connected to every master now: later, no node takes a new connection.
    await other.drained();
    await held.store.drained();
    const a = new RedisStreamStore({ client: held.store.client, prefix, onError: () => {} });
    const b = new RedisStreamStore({ client: other.client, prefix });
    try {
      const { info } = await a.create('s', { contentType: 'text/plain' });
      // Far longer than the test: only a wake-up ends this wait with 'data'.
      const woken = a.wait('s', info.nextOffset, 120_000);
      const all = nodes();
      const total = async () => (await Promise.all(all.map((n) => subscribersOn(n, channel)))).reduce((x, y) => x + y, 0);
      await until(async () => (await total()) === 1);
      // No node takes a new connection (room for those there are, less the subscriber); then it is cut.
      for (const n of all) await n.config('SET', 'maxclients', String((await connectedTo(n)) - 1));
      for (const n of all) await n.client('KILL', 'TYPE', 'pubsub');
      await until(async () => (await total()) === 0);
      await b.append('s', [Buffer.from('while deaf')]);
      for (const n of all) await n.config('SET', 'maxclients', '10000');
      await until(async () => (await total()) === 1);
      expect(await woken).toBe('data');
    } finally {
      for (const n of nodes()) await n.config('SET', 'maxclients', '10000');
      await a.close();
      await b.close();
      other.close();
    }
  }, 60_000);
});
