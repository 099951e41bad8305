import { describe, expect, it } from 'vitest';
import { FP, type IdempotencyOpen, KEEP, LEASE, response, token } from './fixtures.js';

export function idempotencyReleaseExtendTests(open: IdempotencyOpen): void {
  describe('release and extend', () => {
    it('release frees the key at once; the next reserve gets a new token', async () => {
      const { store } = await open();
      const t = token(await store.reserve('s', 'k', FP, { leaseMs: LEASE }));
      expect(await store.release('s', 'k', t)).toBe(true);
      const t2 = token(await store.reserve('s', 'k', 'any fingerprint now', { leaseMs: LEASE }));
      expect(t2).not.toBe(t);
      expect(await store.release('s', 'k', t)).toBe(false);
    });

    it('release with a wrong token, or of a completed key, is false and changes nothing', async () => {
      const { store } = await open();
      const t = token(await store.reserve('s', 'k', FP, { leaseMs: LEASE }));
      expect(await store.release('s', 'k', 'wrong')).toBe(false);
      expect((await store.reserve('s', 'k', FP, { leaseMs: LEASE })).state).toBe('in-flight');
      await store.complete('s', 'k', t, response(), { retentionMs: KEEP });
      expect(await store.release('s', 'k', t)).toBe(false);
      expect((await store.reserve('s', 'k', FP, { leaseMs: LEASE })).state).toBe('completed');
    });

    it('extend moves the end of the lease to now + leaseMs', async () => {
      const { store, clock } = await open();
      const t = token(await store.reserve('s', 'k', FP, { leaseMs: 1000 }));
      clock.advance(900);
      expect(await store.extend('s', 'k', t, 5000)).toBe(true);
      clock.advance(4000);
      expect(await store.reserve('s', 'k', FP, { leaseMs: LEASE })).toEqual({ state: 'in-flight', retryAfterMs: 1000 });
      expect(await store.complete('s', 'k', t, response(), { retentionMs: KEEP })).toBe(true);
    });

    it('extend with a wrong token, or of a completed key, is false', async () => {
      const { store } = await open();
      const t = token(await store.reserve('s', 'k', FP, { leaseMs: LEASE }));
      expect(await store.extend('s', 'k', 'wrong', LEASE)).toBe(false);
      await store.complete('s', 'k', t, response(), { retentionMs: KEEP });
      expect(await store.extend('s', 'k', t, LEASE)).toBe(false);
      expect(await store.extend('s', 'unknown', t, LEASE)).toBe(false);
    });
  });
}
