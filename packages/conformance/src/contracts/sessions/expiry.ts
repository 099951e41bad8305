import { describe, expect, it } from 'vitest';
import type { ConformanceOptions } from '../../context.js';
import { bytes, sleep, text } from '../../helpers.js';
import { MIN, type SessionOpen } from './fixtures.js';

export function sessionExpiryTests(open: SessionOpen): void {
  describe('idle and absolute expiry', () => {
    it('a session is visible 1 ms before expiresAt and invisible at expiresAt', async () => {
      const { store, clock } = await open();
      await store.set('e', bytes('x'), { ttlMs: 5000 });
      clock.advance(4999);
      expect(await store.get('e')).toBeDefined();
      clock.advance(1);
      expect(await store.get('e')).toBeUndefined();
      expect(await store.touch('e', MIN)).toBe(false);
      expect(await store.destroy('e')).toBe(false);
    });

    it('a set after expiry is an insert: version 1, owner and absolute expiry start over', async () => {
      const { store, clock } = await open();
      await store.set('e', bytes('x'), { ttlMs: 1000, absoluteTtlMs: 2000, owner: 'alice' });
      await store.set('e', bytes('y'), { ttlMs: 1000 });
      clock.advance(1000);
      expect(await store.set('e', bytes('z'), { ttlMs: MIN })).toEqual({ version: 1 });
      const got = await store.get('e');
      expect(got!.owner).toBeUndefined();
      expect(got!.absoluteExpiresAt).toBeUndefined();
    });

    it('touch moves expiresAt to now + ttlMs and keeps data and version', async () => {
      const { store, clock } = await open();
      await store.set('t', bytes('keep'), { ttlMs: 1000 });
      await store.set('t', bytes('keep2'), { ttlMs: 1000 });
      clock.advance(900);
      expect(await store.touch('t', 1000)).toBe(true);
      clock.advance(900);
      const got = await store.get('t');
      expect(got).toMatchObject({ version: 2, expiresAt: clock.now() + 100 });
      expect(text(got!.data)).toBe('keep2');
    });

    it('touch can shorten the idle expiry too', async () => {
      const { store, clock } = await open();
      await store.set('t', bytes('x'), { ttlMs: MIN });
      expect(await store.touch('t', 10)).toBe(true);
      clock.advance(10);
      expect(await store.get('t')).toBeUndefined();
    });

    it('touch of a missing session is false and creates nothing', async () => {
      const { store } = await open();
      expect(await store.touch('ghost', MIN)).toBe(false);
      expect(await store.get('ghost')).toBeUndefined();
    });

    it('absoluteTtlMs fixes absoluteExpiresAt and caps the idle expiry', async () => {
      const { store, clock } = await open();
      const t0 = clock.now();
      await store.set('a', bytes('x'), { ttlMs: 10 * MIN, absoluteTtlMs: 5000 });
      const got = await store.get('a');
      expect(got!.absoluteExpiresAt).toBe(t0 + 5000);
      expect(got!.expiresAt).toBe(t0 + 5000);
    });

    it('neither set nor touch moves the absolute expiry; the session ends there', async () => {
      const { store, clock } = await open();
      const t0 = clock.now();
      await store.set('a', bytes('x'), { ttlMs: 1000, absoluteTtlMs: 3000 });
      clock.advance(900);
      expect(await store.touch('a', 1000)).toBe(true);
      clock.advance(900);
      await store.set('a', bytes('y'), { ttlMs: 1000, absoluteTtlMs: 60_000 });
      clock.advance(900);
      expect(await store.touch('a', 10 * MIN)).toBe(true);
      const got = await store.get('a');
      expect(got!.absoluteExpiresAt).toBe(t0 + 3000);
      expect(got!.expiresAt).toBe(t0 + 3000);
      clock.set(t0 + 2999);
      expect(await store.get('a')).toBeDefined();
      clock.set(t0 + 3000);
      expect(await store.get('a')).toBeUndefined();
      expect(await store.touch('a', MIN)).toBe(false);
    });

    it('set on an existing session caps its new idle expiry by the absolute one', async () => {
      const { store, clock } = await open();
      const t0 = clock.now();
      await store.set('a', bytes('x'), { ttlMs: 5000, absoluteTtlMs: 4000 });
      clock.advance(3500);
      await store.set('a', bytes('y'), { ttlMs: MIN });
      expect((await store.get('a'))!.expiresAt).toBe(t0 + 4000);
    });

    it('expires in real time too (short TTL, the store on its own clock)', async () => {
      const { store } = await open('real-time');
      await store.set('rt', bytes('x'), { ttlMs: 1500 });
      await store.set('rt-touched', bytes('x'), { ttlMs: 1500 });
      expect(await store.get('rt')).toBeDefined();
      await sleep(700);
      expect(await store.touch('rt-touched', 10_000)).toBe(true);
      await sleep(1300);
      expect(await store.get('rt')).toBeUndefined();
      expect(await store.get('rt-touched')).toBeDefined();
    });

    it('real-time expiresAt is close to the wall clock', async () => {
      const { store } = await open('real-time');
      const before = Date.now();
      await store.set('rt', bytes('x'), { ttlMs: MIN });
      const got = await store.get('rt');
      // The backend's clock may differ from this process's by a little.
      expect(Math.abs(got!.expiresAt - (before + MIN))).toBeLessThan(5000);
    });
  });
}

export function sessionPruneTests(open: SessionOpen, options: ConformanceOptions): void {
  describe('prune', () => {
    it(
      options.nativeExpiry ? 'leaves no expired session visible' : 'deletes exactly the expired sessions and returns their count',
      async () => {
        const { store, clock } = await open();
        for (let i = 0; i < 7; i++) await store.set(`short-${i}`, bytes('x'), { ttlMs: 1000, owner: 'pruned' });
        for (let i = 0; i < 3; i++) await store.set(`long-${i}`, bytes('x'), { ttlMs: MIN });
        clock.advance(1000);
        const removed = await store.prune();
        if (options.nativeExpiry) expect(removed).toBeLessThanOrEqual(7);
        else {
          expect(removed).toBe(7);
          expect(await store.prune()).toBe(0);
        }
        for (let i = 0; i < 3; i++) expect(await store.get(`long-${i}`)).toBeDefined();
        expect(await store.destroyByOwner('pruned')).toBe(0);
      },
    );

    it('is 0 on an empty store', async () => {
      const { store } = await open();
      expect(await store.prune()).toBe(0);
    });
  });
}
