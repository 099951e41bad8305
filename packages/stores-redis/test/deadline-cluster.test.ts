import { newNamespace, type ErrorLike } from '@stowage/conformance';
import { Cluster, Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisIdempotencyStore, RedisRateLimitStore, RedisSessionStore, type RedisStoreOptions } from '../src/index.js';
import { startCluster, type LocalCluster } from './helpers.js';
import { dataCommands, errorReplies, pause, resetStats } from './server-stats.js';

const policy = { algorithm: 'fixed-window', limit: 10, windowMs: 60_000 } as const;
const MINUTE = 60_000;
const KEYS = Array.from({ length: 12 }, (_, i) => `key-${i}`);

describe("the caller's deadline on a 3-master Redis Cluster", () => {
  let cluster: LocalCluster;
  let client: Cluster;
  /** One admin connection per master, by port. */
  let admins: Map<number, Redis>;
  beforeAll(async () => {
    cluster = await startCluster();
    client = new Cluster(cluster.ports.map((port) => ({ host: '127.0.0.1', port })));
    admins = new Map(cluster.ports.map((port) => [port, new Redis({ host: '127.0.0.1', port })]));
    await client.ping();
  });
  afterAll(async () => {
    for (const a of admins?.values() ?? []) {
      await a.call('CLIENT', 'UNPAUSE').catch(() => {});
      a.disconnect();
    }
    await client?.quit();
    cluster?.stop();
  });

  const all = () => [...admins.values()];
  const options = (): RedisStoreOptions => ({ client, prefix: newNamespace(), timeoutMs: 5000 });
  /** Resolves once every master has answered what the cluster client sent it before. */
  const drained = () => Promise.all(client.nodes('master').map((n) => n.ping()));
  /** The port of the master that holds `hashTag`'s slot. */
  async function portOf(hashTag: string): Promise<number> {
    const slot = Number(await all()[0]!.call('CLUSTER', 'KEYSLOT', `{${hashTag}}`));
    const ranges = (await all()[0]!.call('CLUSTER', 'SLOTS')) as [number, number, [string, number]][];
    return ranges.find(([from, to]) => slot >= from && slot <= to)![2][1];
  }

  it('with every master paused, consumes and reserves with a 150 ms deadline fail with TIMEOUT by it and none takes effect', async () => {
    const limits = new RedisRateLimitStore(options());
    const idempotency = new RedisIdempotencyStore(options());
    for (const k of KEYS) await limits.consume(k, policy);
    expect(new Set(await Promise.all(KEYS.map(portOf))).size).toBe(3); // the calls reach every master
    await resetStats(all());

    await pause(all(), 2000);
    const startedAt = Date.now();
    const deadline = startedAt + 150;
    const calls = [
      ...KEYS.map((k) => limits.consume(k, policy, { cost: 3, deadline })),
      ...KEYS.map((k) => idempotency.reserve('scope', k, 'fp', { leaseMs: MINUTE, deadline })),
    ];
    const results = await Promise.all(
      calls.map((c) => c.then(() => ({ code: 'OK', ms: 0 }), (err: ErrorLike) => ({ code: err.code as string, ms: Date.now() - startedAt }))),
    );
    expect(results.map((r) => r.code)).toEqual(Array(24).fill('TIMEOUT'));
    for (const r of results) expect(r.ms).toBeLessThan(1500);

    await drained();
    expect(await errorReplies(all(), 'STOWAGE_LATE')).toBe(24);
    for (const k of KEYS) {
      expect((await limits.peek(k, policy)).remaining).toBe(9);
      expect((await idempotency.reserve('scope', k, 'fp', { leaseMs: MINUTE })).state).toBe('reserved');
    }
  }, 20_000);

  it('a deadline already passed is TIMEOUT and no master receives a command', async () => {
    const limits = new RedisRateLimitStore(options());
    const idempotency = new RedisIdempotencyStore(options());
    const sessions = new RedisSessionStore(options());
    await limits.consume('warm', policy);
    await resetStats(all());
    const deadline = Date.now() - 1;
    const codes = await Promise.all(
      [
        ...KEYS.map((k) => limits.consume(k, policy, { deadline })),
        ...KEYS.map((k) => idempotency.reserve('scope', k, 'fp', { leaseMs: MINUTE, deadline })),
        sessions.set('s', Buffer.from('x'), { ttlMs: MINUTE, owner: 'alice', deadline }),
        sessions.rotate('s', 't', { deadline }),
        sessions.destroyByOwner('alice', { deadline }),
      ].map((c) => c.then(() => 'OK', (err: ErrorLike) => err.code)),
    );
    expect(codes).toEqual(Array(27).fill('TIMEOUT'));
    expect(await dataCommands(all())).toEqual({});
    await limits.consume('k', policy, { deadline: Date.now() + 1000 });
    expect((await dataCommands(all())).evalsha).toBe(1);
  });

  it("rotate cut off by the deadline before it writes the new id gives the session back under the old one", async () => {
    const sessions = new RedisSessionStore(options());
    // The owner's index on one master, the session on another: pausing the first stalls the
    // rotate after it took the session, before it wrote it under the new id.
    const indexPort = await portOf('carol');
    let oldId = '';
    for (let i = 0; oldId === ''; i++) if ((await portOf(`old-${i}`)) !== indexPort) oldId = `old-${i}`;
    await sessions.set(oldId, Buffer.from('payload'), { ttlMs: MINUTE, owner: 'carol' });

    await pause([admins.get(indexPort)!], 1500);
    const startedAt = Date.now();
    await expect(sessions.rotate(oldId, 'new-id', { deadline: startedAt + 150 })).rejects.toMatchObject({ code: 'TIMEOUT' });
    expect(Date.now() - startedAt).toBeLessThan(1200);
    expect(Buffer.from((await sessions.get(oldId))!.data).toString()).toBe('payload');

    await drained();
    expect(Buffer.from((await sessions.get(oldId))!.data).toString()).toBe('payload');
    expect(await sessions.get('new-id')).toBeUndefined();
    expect(await sessions.destroyByOwner('carol')).toBe(1);
  }, 20_000);
});
