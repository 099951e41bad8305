import { createTestClock, newNamespace } from '@stowage/conformance';
import { Cluster, Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisSessionStore } from '../src/index.js';
import { startCluster, startServer, type LocalCluster } from './helpers.js';
import { dataCommands, resetStats } from './server-stats.js';

/** Other applications' keys in the same database, which a prune must not look at. */
const FOREIGN = 50_000;
const OWNERS = 40;
const SHORT = 5; // sessions per owner that expire
const LONG = 2; // sessions per owner that stay

const topologies: [string, () => Promise<LocalCluster>, (c: LocalCluster) => Redis | Cluster, (c: Redis | Cluster) => Redis[]][] = [
  ['Redis', () => startServer(), (s) => new Redis(s.ports[0]!, '127.0.0.1'), (c) => [c as Redis]],
  ['Redis Cluster', () => startCluster(), (s) => new Cluster(s.ports.map((port) => ({ host: '127.0.0.1', port }))), (c) => s(c as Cluster)],
];
function s(cluster: Cluster): Redis[] {
  return cluster.nodes('master');
}

describe.each(topologies)('sessions prune on %s', (_, start, connect, mastersOf) => {
  let server: LocalCluster;
  let client: Redis | Cluster;
  let admin: Redis[];
  beforeAll(async () => {
    server = await start();
    client = connect(server);
    await client.ping();
    admin = server.ports.map((port) => new Redis(port, '127.0.0.1'));
    // Keys of the cluster's masters only (startCluster has no replicas), in every slot.
    for (let i = 0; i < FOREIGN; i += 1000) {
      await Promise.all(Array.from({ length: 1000 }, (_, j) => client.set(`other-app:${i + j}`, 'x')));
    }
  }, 120_000);
  afterAll(async () => {
    await client?.quit();
    await Promise.all((admin ?? []).map((a) => a.quit()));
    server?.stop();
  });

  it('looks at our due owners only, never scans, and counts exactly', async () => {
    expect(mastersOf(client).length).toBe(server.ports.length);
    const prefix = newNamespace();
    const clock = createTestClock();
    const store = new RedisSessionStore({ client, prefix, clock });
    for (let o = 0; o < OWNERS; o++) {
      for (let i = 0; i < SHORT; i++) await store.set(`s${o}-${i}`, Buffer.from('x'), { ttlMs: 1000, owner: `u${o}` });
      for (let i = 0; i < LONG; i++) await store.set(`l${o}-${i}`, Buffer.from('x'), { ttlMs: 60_000, owner: `u${o}` });
    }
    // A touched session outlives its first expiry: its entry stays.
    expect(await store.touch('s0-0', 30_000)).toBe(true);
    clock.advance(1000);

    await resetStats(admin);
    expect(await store.prune()).toBe(OWNERS * SHORT - 1);
    const calls = await dataCommands(admin);
    expect(calls.scan).toBeUndefined();
    expect(calls.keys).toBeUndefined();
    // Commands run inside scripts count too (and each script reads TIME for its deadline).
    // Per due owner: its index, each of its sessions (a script on a Cluster), the stale
    // entries and its new score; nothing that grows with the other keys.
    const total = Object.values(calls).reduce((a, b) => a + b, 0);
    expect(total).toBeLessThanOrEqual(4 + OWNERS * (6 + 3 * (SHORT + LONG)));

    // Nothing is due until the next expiry: a second prune looks at no owner.
    await resetStats(admin);
    expect(await store.prune()).toBe(0);
    expect(await dataCommands(admin)).toEqual({ evalsha: 1, zrange: 1, time: 1 });

    // The touched session's expiry comes: only owner u0 is due, one entry goes.
    clock.advance(29_000);
    expect(await store.prune()).toBe(1);
    for (let o = 0; o < OWNERS; o++) expect(await client.scard(`${prefix}o:{u${o}}`)).toBe(LONG);
    expect(await store.destroyByOwner('u1')).toBe(LONG);

    // Every session gone: every owner leaves the due set, and the indexes go.
    clock.advance(60_000);
    expect(await store.prune()).toBe((OWNERS - 1) * LONG);
    expect(await client.zcard(`${prefix}owners`)).toBe(0);
    for (let o = 0; o < OWNERS; o++) expect(await client.exists(`${prefix}o:{u${o}}`)).toBe(0);
    await store.close();
  });
});
