import type { StoredResponse } from '@stowage/core';
import { describe, expect, it } from 'vitest';
import { fulfilled, race, text } from '../../helpers.js';
import { FP, type IdempotencyOpen, KEEP, LEASE, response, token } from './fixtures.js';

export function idempotencyConcurrencyTests(open: IdempotencyOpen): void {
  describe('concurrency', () => {
    it('200 parallel reserves of one key: exactly one reserved, 199 in-flight', async () => {
      const { store } = await open();
      const results = fulfilled(await race(200, () => store.reserve('s', 'hot', FP, { leaseMs: LEASE })));
      expect(results).toHaveLength(200);
      expect(results.filter((r) => r.state === 'reserved')).toHaveLength(1);
      expect(results.filter((r) => r.state === 'in-flight')).toHaveLength(199);
    });

    it('200 parallel reserves with two fingerprints: one reserved; the rest in-flight or mismatch by fingerprint', async () => {
      const { store } = await open();
      const fps = Array.from({ length: 200 }, (_, i) => (i % 2 === 0 ? 'even' : 'odd'));
      const results = fulfilled(await race(200, (i) => store.reserve('s', 'hot', fps[i]!, { leaseMs: LEASE })));
      const winner = results.findIndex((r) => r.state === 'reserved');
      expect(results.filter((r) => r.state === 'reserved')).toHaveLength(1);
      results.forEach((r, i) => {
        if (i === winner) return;
        expect(r.state).toBe(fps[i] === fps[winner] ? 'in-flight' : 'mismatch');
      });
    });

    it('100 parallel reserves after complete all replay', async () => {
      const { store } = await open();
      const t = token(await store.reserve('s', 'k', FP, { leaseMs: LEASE }));
      await store.complete('s', 'k', t, response(), { retentionMs: KEEP });
      const results = fulfilled(await race(100, () => store.reserve('s', 'k', FP, { leaseMs: LEASE })));
      expect(results.every((r) => r.state === 'completed')).toBe(true);
    });

    it('50 parallel completes with the valid token: exactly one is true', async () => {
      const { store } = await open();
      const t = token(await store.reserve('s', 'k', FP, { leaseMs: LEASE }));
      const results = fulfilled(await race(50, (i) => store.complete('s', 'k', t, response(`r${i}`), { retentionMs: KEEP })));
      expect(results.filter(Boolean)).toHaveLength(1);
      const replay = (await store.reserve('s', 'k', FP, { leaseMs: LEASE })) as { response: StoredResponse };
      expect(text(replay.response.body)).toBe(`r${results.indexOf(true)}`);
    });

    it('100 parallel reserves of an expired lease: exactly one reclaims', async () => {
      const { store, clock } = await open();
      await store.reserve('s', 'k', FP, { leaseMs: 1000 });
      clock.advance(1000);
      const results = fulfilled(await race(100, () => store.reserve('s', 'k', FP, { leaseMs: LEASE })));
      expect(results.filter((r) => r.state === 'reserved')).toHaveLength(1);
    });
  });
}
