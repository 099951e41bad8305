import { describe, expect, it } from 'vitest';
import { expectCode, fulfilled, race } from '../../helpers.js';
import { msgs, type StreamOpen, TEXT } from './fixtures.js';

export function streamDeleteTests(open: StreamOpen): void {
  describe('delete', () => {
    it('removes a stream once', async () => {
      const { store } = await open();
      await store.create('s', { contentType: TEXT }, { messages: msgs('a') });
      expect(await store.delete('s')).toBe(true);
      expect(await store.head('s')).toBeUndefined();
      await expectCode(store.read('s', '-1'), 'NOT_FOUND');
      expect(await store.delete('s')).toBe(false);
    });

    it('of 20 parallel deletes, exactly one is true', async () => {
      const { store } = await open();
      await store.create('s', { contentType: TEXT });
      const results = fulfilled(await race(20, () => store.delete('s')));
      expect(results.filter(Boolean)).toHaveLength(1);
    });
  });
}
