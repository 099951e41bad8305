import { createTestClock, newNamespace } from '@stowage/conformance';
import { redisBackends } from '@stowage/conformance/backends';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { RedisStreamStore } from '../src/index.js';
import { dropPrefix } from './helpers.js';

// Once every stream is gone, so is every key under the store's prefix: no counter or index
// stays behind (a store's ids were once numbered by a counter key that outlived its streams).

const backends = await redisBackends();
afterAll(() => Promise.all(backends.map((b) => b.stop())));

async function keysUnder(client: Redis, prefix: string): Promise<string[]> {
  const out: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    cursor = next;
    out.push(...keys);
  } while (cursor !== '0');
  return out.sort();
}

describe('a RedisStreamStore whose streams are all gone', () => {
  const client = new Redis(backends[0]!.url!);
  afterAll(() => client.quit());
  const text = { contentType: 'text/plain' };
  const m = (s: string) => Buffer.from(s);

  it('leaves no key under its prefix: deletes, forks, producers, closes and expiry', async () => {
    const prefix = newNamespace();
    const clock = createTestClock();
    const store = new RedisStreamStore({ client, prefix, clock });
    try {
      await store.create('plain', text);
      await store.create('full', text, { messages: [m('a'), m('b')] });
      await store.append('full', [m('c')], { producer: { id: 'p', epoch: 0, seq: 0 } });
      await store.append('full', [m('d')], { close: true });
      await store.create('fork', { ...text, ttlMs: 60_000 }, { fork: { from: 'full' } });
      await store.create('deep', text, { fork: { from: 'fork' } });
      await store.create('ttl', { ...text, ttlMs: 1000 }, { messages: [m('x')] });
      expect((await keysUnder(client, prefix)).length).toBeGreaterThan(0);

      // A source deleted while its forks read through it stays hidden; it goes with the last fork.
      expect(await store.delete('full')).toBe(true);
      expect(await store.delete('plain')).toBe(true);
      expect(await store.delete('deep')).toBe(true);
      expect(await store.delete('fork')).toBe(true);
      clock.advance(2000);
      expect(await store.cleanupExpired()).toBe(1);
      expect(await keysUnder(client, prefix)).toEqual([]);
    } finally {
      await store.close();
      await dropPrefix(client, prefix);
    }
  });

  it('gives a name created anew a new id all the same', async () => {
    const prefix = newNamespace();
    const store = new RedisStreamStore({ client, prefix });
    try {
      const ids = new Set<string>();
      for (let i = 0; i < 3; i++) {
        const { info } = await store.create('again', text, { messages: [m(String(i))] });
        ids.add(info.id);
        expect(await store.delete('again')).toBe(true);
        expect(await keysUnder(client, prefix)).toEqual([]);
      }
      expect(ids.size).toBe(3);
    } finally {
      await store.close();
      await dropPrefix(client, prefix);
    }
  });
});
