import { createTestClock, newNamespace } from '@stowage/conformance';
import { redisBackends } from '@stowage/conformance/backends';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { RedisStreamStore } from '../src/index.js';
import { dropPrefix } from './helpers.js';

// A source keeps the set of its forks' names (`<prefix>{streams}:f:<source id>`) to know when
// none reads through it any more. Streams forked before that set existed have none: their
// source must then be kept as it was before (hidden until cleanup), never taken for absent
// while a live fork still reads its messages.

const backends = await redisBackends();
afterAll(() => Promise.all(backends.map((b) => b.stop())));

describe("the set of a source's fork names", () => {
  const client = new Redis(backends[0]!.url!);
  afterAll(() => client.quit());
  const text = (r: { messages: { data: Uint8Array }[] }) => r.messages.map((m) => Buffer.from(m.data).toString());

  async function setUp() {
    const prefix = newNamespace();
    const clock = createTestClock();
    const store = new RedisStreamStore({ client, prefix, clock });
    const { info } = await store.create('s', { contentType: 'text/plain' }, { messages: [Buffer.from('a')] });
    await store.create('f', { contentType: 'text/plain', ttlMs: 1000 }, { fork: { from: 's' } });
    return { prefix, clock, store, names: `${prefix}{streams}:f:${info.id}` };
  }

  it('holds the fork names, and goes with the source', async () => {
    const { prefix, store, names } = await setUp();
    try {
      expect(await client.smembers(names)).toEqual(['f']);
      expect(await store.delete('s')).toBe(true);
      expect(await store.delete('f')).toBe(true);
      expect(await client.exists(names)).toBe(0);
    } finally {
      await store.close();
      await dropPrefix(client, prefix);
    }
  });

  it('without it (forks made by an older version), a source stays hidden for its forks until cleanup', async () => {
    const { prefix, clock, store, names } = await setUp();
    try {
      await client.del(names);
      expect(await store.delete('s')).toBe(true);
      await expect(store.read('s', '-1')).rejects.toMatchObject({ code: 'GONE' });
      await expect(store.create('s', { contentType: 'text/plain' })).rejects.toMatchObject({ code: 'CONFLICT' });
      expect(text(await store.read('f', '-1'))).toEqual(['a']);
      clock.advance(1000);
      await expect(store.read('s', '-1')).rejects.toMatchObject({ code: 'GONE' });
      expect(await store.cleanupExpired()).toBe(2);
      await expect(store.read('s', '-1')).rejects.toMatchObject({ code: 'NOT_FOUND' });
      expect((await store.create('s', { contentType: 'text/plain' })).status).toBe('created');
    } finally {
      await store.close();
      await dropPrefix(client, prefix);
    }
  });
});
