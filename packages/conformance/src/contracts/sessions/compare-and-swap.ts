import { describe, expect, it } from 'vitest';
import { bytes, expectCode, fulfilled, race, rejectedCodes, text } from '../../helpers.js';
import { MIN, type SessionOpen } from './fixtures.js';

export function sessionCompareAndSwapTests(open: SessionOpen): void {
  describe('compare-and-swap (ifVersion)', () => {
    it('ifVersion 0 inserts when the id is missing', async () => {
      const { store } = await open();
      expect(await store.set('cas', bytes('a'), { ttlMs: MIN, ifVersion: 0 })).toEqual({ version: 1 });
    });

    it('ifVersion 0 on an existing id is CONFLICT and changes nothing', async () => {
      const { store } = await open();
      await store.set('cas', bytes('a'), { ttlMs: MIN });
      const err = await expectCode(store.set('cas', bytes('b'), { ttlMs: MIN, ifVersion: 0 }), 'CONFLICT');
      expect(err.details?.currentVersion, 'SessionStore.set CONFLICT: err.details.currentVersion').toBe(1);
      const got = await store.get('cas');
      expect(text(got!.data)).toBe('a');
      expect(got!.version).toBe(1);
    });

    it('a matching ifVersion writes and increments', async () => {
      const { store } = await open();
      await store.set('cas', bytes('a'), { ttlMs: MIN });
      expect(await store.set('cas', bytes('b'), { ttlMs: MIN, ifVersion: 1 })).toEqual({ version: 2 });
      expect(await store.set('cas', bytes('c'), { ttlMs: MIN, ifVersion: 2 })).toEqual({ version: 3 });
    });

    it('a stale ifVersion is CONFLICT and changes nothing (data, version, expiry)', async () => {
      const { store, clock } = await open();
      await store.set('cas', bytes('a'), { ttlMs: MIN });
      await store.set('cas', bytes('b'), { ttlMs: MIN });
      const before = await store.get('cas');
      clock.advance(1000);
      const err = await expectCode(store.set('cas', bytes('c'), { ttlMs: 5 * MIN, ifVersion: 1 }), 'CONFLICT');
      expect(err.details?.currentVersion, 'SessionStore.set CONFLICT: err.details.currentVersion').toBe(2);
      expect(await store.get('cas')).toEqual(before);
    });

    it('ifVersion > 0 on a missing id is CONFLICT and creates nothing', async () => {
      const { store } = await open();
      const err = await expectCode(store.set('cas', bytes('a'), { ttlMs: MIN, ifVersion: 3 }), 'CONFLICT');
      expect(err.details?.currentVersion, 'SessionStore.set CONFLICT: err.details.currentVersion').toBe(0);
      expect(await store.get('cas')).toBeUndefined();
    });

    it('ifVersion 0 succeeds on an expired session (expired counts as missing)', async () => {
      const { store, clock } = await open();
      await store.set('cas', bytes('old'), { ttlMs: 1000 });
      clock.advance(1000);
      expect(await store.set('cas', bytes('new'), { ttlMs: MIN, ifVersion: 0 })).toEqual({ version: 1 });
      expect(text((await store.get('cas'))!.data)).toBe('new');
    });

    it('100 parallel sets with the same ifVersion: exactly one succeeds', async () => {
      const { store } = await open();
      await store.set('race', bytes('start'), { ttlMs: MIN });
      const results = await race(100, (i) => store.set('race', bytes(`writer-${i}`), { ttlMs: MIN, ifVersion: 1 }));
      const won = fulfilled(results);
      expect(won).toEqual([{ version: 2 }]);
      expect(rejectedCodes(results)).toEqual(Array(99).fill('CONFLICT'));
      const winner = results.findIndex((r) => r.status === 'fulfilled');
      const got = await store.get('race');
      expect(got!.version).toBe(2);
      expect(text(got!.data)).toBe(`writer-${winner}`);
    });

    it('100 parallel inserts with ifVersion 0: exactly one creates the session', async () => {
      const { store } = await open();
      const results = await race(100, (i) => store.set('fresh', bytes(`w${i}`), { ttlMs: MIN, ifVersion: 0 }));
      expect(fulfilled(results)).toEqual([{ version: 1 }]);
      expect(rejectedCodes(results).every((c) => c === 'CONFLICT')).toBe(true);
    });

    it('100 parallel unconditional sets: versions 2..101 are each given exactly once', async () => {
      const { store } = await open();
      await store.set('seq', bytes('0'), { ttlMs: MIN });
      const results = fulfilled(await race(100, (i) => store.set('seq', bytes(String(i)), { ttlMs: MIN })));
      expect(results.map((r) => r.version).sort((a, b) => a - b)).toEqual(Array.from({ length: 100 }, (_, i) => i + 2));
      expect((await store.get('seq'))!.version).toBe(101);
    });
  });
}
