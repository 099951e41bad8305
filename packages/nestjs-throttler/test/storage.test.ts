// The storage alone, on every backend: the records of @nestjs/throttler's own in-memory storage
// for the same hits, and a block set between a hit's two steps on another replica.
import { ThrottlerStorageService } from '@nestjs/throttler';
import type { RateLimitStore } from '@stowage/core';
import { MemoryRateLimitStore } from '@stowage/stores-memory';
import { describeStoreBackends } from '@stowage/test-stores';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StowageThrottlerStorage } from '../src/index.js';
import { nextWindow, openReplicas, type Replicas, roomInWindow } from './app.js';

const invalid = (field: string) => expect.objectContaining({ code: 'INVALID_ARGUMENT', message: expect.stringContaining(field) });

await describeStoreBackends((backend) => {
  let replicas: Replicas;
  beforeAll(async () => {
    replicas = await openReplicas(backend);
  });
  afterAll(() => replicas.close());

  for (const blockDuration of [60_000, 0]) {
    it(`counts and blocks as @nestjs/throttler's own storage does within a window (blockDuration ${blockDuration})`, async () => {
      await roomInWindow(60_000, 5000);
      const ours = new StowageThrottlerStorage({ store: replicas.stores[0], prefix: `same-${blockDuration}:` });
      const theirs = new ThrottlerStorageService();
      const pick = (r: { totalHits: number; isBlocked: boolean }) => [r.totalHits, r.isBlocked];
      try {
        for (let i = 0; i < 6; i++) {
          const [a, b] = [
            await ours.increment('k', 60_000, 3, blockDuration, 'default'),
            await theirs.increment('k', 60_000, 3, blockDuration, 'default'),
          ];
          expect(pick(a)).toEqual(pick(b));
          expect(a.isBlocked ? a.timeToBlockExpire : 0).toBeLessThanOrEqual(60);
        }
      } finally {
        theirs.onApplicationShutdown();
      }
    });
  }

  it('throttlers count apart under one key; a limit of 0 refuses every hit', async () => {
    await roomInWindow(60_000, 5000);
    const storage = new StowageThrottlerStorage({ store: replicas.stores[1], prefix: 'names:' });
    const hits = async (name: string) => (await storage.increment('k', 60_000, 5, 0, name)).totalHits;
    expect([await hits('short'), await hits('short'), await hits('long')]).toEqual([1, 2, 1]);
    expect(await storage.increment('z', 60_000, 0, 1000, 'default')).toEqual({
      totalHits: 1,
      timeToExpire: 1,
      isBlocked: true,
      timeToBlockExpire: 1,
    });
    expect((await storage.increment('z0', 60_000, 0, 0, 'default')).isBlocked).toBe(true);
  });

  it('a block another replica sets between the check and the count of a hit stops it, even in the window after', async () => {
    const other = new StowageThrottlerStorage({ store: replicas.stores[1], prefix: 'race:' });
    // Replica A's store, which lets B go over the limit and the window end between A's block check and A's count.
    const store = replicas.stores[0];
    let armed = false;
    const between: RateLimitStore = Object.create(store, {
      peek: {
        value: async (...args: Parameters<RateLimitStore['peek']>) => {
          const answer = await store.peek(...args);
          if (armed) {
            armed = false;
            expect((await other.increment('k', 1000, 1, 5000, 'default')).isBlocked).toBe(true); // B blocks the key
            await nextWindow(1000, 10);
          }
          return answer;
        },
      },
    });
    const a = new StowageThrottlerStorage({ store: between, prefix: 'race:', timeoutMs: 5000 });
    await nextWindow(1000);
    expect((await other.increment('k', 1000, 1, 5000, 'default')).isBlocked).toBe(false); // the window's one hit
    armed = true;
    const hit = await a.increment('k', 1000, 1, 5000, 'default'); // counted (a new window), then found blocked
    expect(armed).toBe(false);
    expect(hit.isBlocked).toBe(true);
    expect([4, 5]).toContain(hit.timeToBlockExpire); // B's 5 s block, set about 1 s before
  });
});

describe('StowageThrottlerStorage', () => {
  it('validates its options and the guard arguments with StowageError', async () => {
    const store = new MemoryRateLimitStore();
    expect(() => new StowageThrottlerStorage({} as never)).toThrow(invalid('store'));
    expect(() => new StowageThrottlerStorage({ store, prefix: '' })).toThrow(invalid('prefix'));
    for (const timeoutMs of [0, 1.5, '1000'])
      expect(() => new StowageThrottlerStorage({ store, timeoutMs } as never)).toThrow(invalid('timeoutMs'));
    const storage = new StowageThrottlerStorage({ store });
    expect([storage.prefix, storage.timeoutMs]).toEqual(['nest:', 1000]);
    await expect(storage.increment('k', 0, 1, 0, 'default')).rejects.toMatchObject(invalid('ttl'));
    await expect(storage.increment('k', 1000, 1.5, 0, 'default')).rejects.toMatchObject(invalid('limit'));
    await expect(storage.increment('k', 1000, -1, 0, 'default')).rejects.toMatchObject(invalid('limit'));
    await expect(storage.increment('k', 1000, 1, 1.5, 'default')).rejects.toMatchObject(invalid('blockDuration'));
  });
});
