import { describe, expect, it } from 'vitest';
import { bytes, expectCode, fulfilled, race, rejectedCodes, text } from '../../helpers.js';
import { MIN, type SessionOpen } from './fixtures.js';

export function sessionRotateTests(open: SessionOpen): void {
  describe('rotate', () => {
    it('moves data, version, owner and absolute expiry to the new id; the old id is gone', async () => {
      const { store, clock } = await open();
      const t0 = clock.now();
      await store.set('old', bytes('payload'), { ttlMs: 5000, absoluteTtlMs: MIN, owner: 'ivy' });
      await store.set('old', bytes('payload2'), { ttlMs: 5000 });
      clock.advance(100);
      expect(await store.rotate('old', 'new')).toBe(true);
      expect(await store.get('old')).toBeUndefined();
      const got = await store.get('new');
      expect(text(got!.data)).toBe('payload2');
      expect(got).toMatchObject({ version: 2, owner: 'ivy', absoluteExpiresAt: t0 + MIN, expiresAt: t0 + 5000 });
    });

    it('with ttlMs, the idle expiry restarts from now (capped by the absolute one)', async () => {
      const { store, clock } = await open();
      const t0 = clock.now();
      await store.set('old', bytes('x'), { ttlMs: 5000, absoluteTtlMs: 20_000 });
      clock.advance(1000);
      await store.rotate('old', 'new', { ttlMs: 8000 });
      expect((await store.get('new'))!.expiresAt).toBe(t0 + 9000);
      await store.rotate('new', 'newer', { ttlMs: MIN });
      expect((await store.get('newer'))!.expiresAt).toBe(t0 + 20_000);
    });

    it('is false for a missing or expired old id', async () => {
      const { store, clock } = await open();
      expect(await store.rotate('ghost', 'new')).toBe(false);
      await store.set('old', bytes('x'), { ttlMs: 1000 });
      clock.advance(1000);
      expect(await store.rotate('old', 'new')).toBe(false);
      expect(await store.get('new')).toBeUndefined();
    });

    it('is CONFLICT when the new id holds a live session, and changes neither', async () => {
      const { store } = await open();
      await store.set('a', bytes('A'), { ttlMs: MIN });
      await store.set('b', bytes('B'), { ttlMs: MIN });
      await expectCode(store.rotate('a', 'b'), 'CONFLICT');
      expect(text((await store.get('a'))!.data)).toBe('A');
      expect(text((await store.get('b'))!.data)).toBe('B');
    });

    it('may take a new id whose session has expired', async () => {
      const { store, clock } = await open();
      await store.set('stale', bytes('S'), { ttlMs: 1000 });
      clock.advance(1000);
      await store.set('a', bytes('A'), { ttlMs: MIN });
      expect(await store.rotate('a', 'stale')).toBe(true);
      expect(text((await store.get('stale'))!.data)).toBe('A');
    });

    it('to the same id is INVALID_ARGUMENT', async () => {
      const { store } = await open();
      await store.set('same', bytes('x'), { ttlMs: MIN });
      await expectCode(store.rotate('same', 'same'), 'INVALID_ARGUMENT');
      expect(await store.get('same')).toBeDefined();
    });

    it('of 50 parallel rotates of one id to different ids, exactly one wins', async () => {
      const { store } = await open();
      await store.set('src', bytes('x'), { ttlMs: MIN });
      const results = fulfilled(await race(50, (i) => store.rotate('src', `dst-${i}`)));
      expect(results.filter(Boolean)).toHaveLength(1);
      const winner = results.indexOf(true);
      let present = 0;
      for (let i = 0; i < 50; i++) if (await store.get(`dst-${i}`)) present++;
      expect(present).toBe(1);
      expect(await store.get(`dst-${winner}`)).toBeDefined();
      expect(await store.get('src')).toBeUndefined();
    });

    it('of 50 parallel rotates of different ids to one id, exactly one wins', async () => {
      const { store } = await open();
      for (let i = 0; i < 50; i++) await store.set(`src-${i}`, bytes(String(i)), { ttlMs: MIN });
      const results = await race(50, (i) => store.rotate(`src-${i}`, 'dst'));
      expect(fulfilled(results).filter(Boolean)).toHaveLength(1);
      expect(rejectedCodes(results)).toEqual(Array(49).fill('CONFLICT'));
    });
  });
}
