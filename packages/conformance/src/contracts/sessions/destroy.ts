import { describe, expect, it } from 'vitest';
import { bytes, fulfilled, race } from '../../helpers.js';
import { MIN, type SessionOpen } from './fixtures.js';

export function sessionDestroyTests(open: SessionOpen): void {
  describe('destroy', () => {
    it('removes a live session once', async () => {
      const { store } = await open();
      await store.set('d', bytes('x'), { ttlMs: MIN });
      expect(await store.destroy('d')).toBe(true);
      expect(await store.get('d')).toBeUndefined();
      expect(await store.destroy('d')).toBe(false);
    });

    it('of 50 parallel destroys of one session, exactly one is true', async () => {
      const { store } = await open();
      await store.set('d', bytes('x'), { ttlMs: MIN });
      const results = fulfilled(await race(50, () => store.destroy('d')));
      expect(results.filter(Boolean)).toHaveLength(1);
    });
  });
}
