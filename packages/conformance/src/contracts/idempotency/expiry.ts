import type { StoredResponse } from '@stowage/core';
import { describe, expect, it } from 'vitest';
import type { ConformanceOptions } from '../../context.js';
import { sleep, text } from '../../helpers.js';
import { FP, type IdempotencyOpen, KEEP, LEASE, response, token } from './fixtures.js';

export function idempotencyExpiryTests(open: IdempotencyOpen, options: ConformanceOptions): void {
  describe('expiry and fencing', () => {
    it('the lease ends exactly at leaseMs: the next reserve reclaims with a new token', async () => {
      const { store, clock } = await open();
      const t = token(await store.reserve('s', 'k', FP, { leaseMs: 5000 }));
      clock.advance(4999);
      expect(await store.reserve('s', 'k', FP, { leaseMs: 5000 })).toEqual({ state: 'in-flight', retryAfterMs: 1 });
      clock.advance(1);
      const t2 = token(await store.reserve('s', 'k', FP, { leaseMs: 5000 }));
      expect(t2).not.toBe(t);
    });

    it('an old token changes nothing after its lease was reclaimed (fencing)', async () => {
      const { store, clock } = await open();
      const t = token(await store.reserve('s', 'k', FP, { leaseMs: 1000 }));
      clock.advance(1000);
      const t2 = token(await store.reserve('s', 'k', FP, { leaseMs: LEASE }));
      expect(await store.complete('s', 'k', t, response('stale'), { retentionMs: KEEP })).toBe(false);
      expect(await store.extend('s', 'k', t, LEASE)).toBe(false);
      expect(await store.release('s', 'k', t)).toBe(false);
      expect(await store.complete('s', 'k', t2, response('fresh'), { retentionMs: KEEP })).toBe(true);
      const replay = (await store.reserve('s', 'k', FP, { leaseMs: LEASE })) as { response: StoredResponse };
      expect(text(replay.response.body)).toBe('fresh');
    });

    it('a token whose lease ended is refused even if nobody reclaimed the key', async () => {
      const { store, clock } = await open();
      const t = token(await store.reserve('s', 'k', FP, { leaseMs: 1000 }));
      clock.advance(1000);
      expect(await store.complete('s', 'k', t, response(), { retentionMs: KEEP })).toBe(false);
      expect(await store.extend('s', 'k', t, LEASE)).toBe(false);
      expect(await store.release('s', 'k', t)).toBe(false);
    });

    it('an expired lease frees the key for another fingerprint too', async () => {
      const { store, clock } = await open();
      await store.reserve('s', 'k', FP, { leaseMs: 1000 });
      clock.advance(1000);
      expect((await store.reserve('s', 'k', 'another', { leaseMs: 1000 })).state).toBe('reserved');
    });

    it('a completed response is kept for retentionMs, then the key is free', async () => {
      const { store, clock } = await open();
      const t = token(await store.reserve('s', 'k', FP, { leaseMs: LEASE }));
      clock.advance(100);
      await store.complete('s', 'k', t, response(), { retentionMs: 10_000 });
      clock.advance(9999);
      expect((await store.reserve('s', 'k', FP, { leaseMs: LEASE })).state).toBe('completed');
      expect((await store.reserve('s', 'k', 'other', { leaseMs: LEASE })).state).toBe('mismatch');
      clock.advance(1);
      expect((await store.reserve('s', 'k', 'other', { leaseMs: LEASE })).state).toBe('reserved');
      // The new reservation holds nothing of the old record: it is in flight, not completed.
      expect(await store.reserve('s', 'k', 'other', { leaseMs: LEASE })).toMatchObject({ state: 'in-flight' });
    });

    it('prune removes expired keys and keeps live ones', async () => {
      const { store, clock } = await open();
      await store.reserve('s', 'short', FP, { leaseMs: 1000 });
      const t = token(await store.reserve('s', 'done', FP, { leaseMs: 1000 }));
      await store.complete('s', 'done', t, response(), { retentionMs: 2000 });
      await store.reserve('s', 'long', FP, { leaseMs: LEASE });
      clock.advance(2000);
      const removed = await store.prune();
      if (options.nativeExpiry) expect(removed).toBeLessThanOrEqual(2);
      else expect(removed).toBe(2);
      expect((await store.reserve('s', 'long', FP, { leaseMs: LEASE })).state).toBe('in-flight');
    });

    it('leases run out in real time on the store clock', async () => {
      const { store } = await open('real-time');
      const t = token(await store.reserve('rt', 'k', FP, { leaseMs: 1000 }));
      const busy = await store.reserve('rt', 'k', FP, { leaseMs: 1000 });
      expect(busy.state).toBe('in-flight');
      expect((busy as { retryAfterMs: number }).retryAfterMs).toBeGreaterThan(0);
      expect((busy as { retryAfterMs: number }).retryAfterMs).toBeLessThanOrEqual(1000);
      await sleep(1400);
      const again = await store.reserve('rt', 'k', FP, { leaseMs: 1000 });
      expect(token(again)).not.toBe(t);
    });
  });
}
