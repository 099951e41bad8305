import { describe, expect, it } from 'vitest';
import { expectCode } from '../../helpers.js';
import { msgs, readAll, type StreamOpen, TEXT } from './fixtures.js';

export function streamClosingTests(open: StreamOpen): void {
  describe('closing', () => {
    it('closeStream closes once; appends are then CONFLICT with the tail in details', async () => {
      const { store } = await open();
      const { info } = await store.create('s', { contentType: TEXT }, { messages: msgs('a') });
      expect(await store.closeStream('s')).toEqual({ nextOffset: info.nextOffset, alreadyClosed: false, duplicate: false });
      expect(await store.closeStream('s')).toMatchObject({ alreadyClosed: true });
      const err = await expectCode(store.append('s', msgs('b')), 'CONFLICT');
      expect(err.details, 'StreamStore.append to a closed stream CONFLICT: err.details').toMatchObject({
        closed: true,
        nextOffset: info.nextOffset,
      });
      expect((await store.head('s'))!.closed).toBe(true);
      const r = await store.read('s', info.nextOffset);
      expect(r).toMatchObject({ atTail: true, closed: true });
    });

    it('append with close appends and closes in one step', async () => {
      const { store } = await open();
      await store.create('s', { contentType: TEXT });
      const r = await store.append('s', msgs('last'), { close: true });
      expect(r.closed).toBe(true);
      await expectCode(store.append('s', msgs('after')), 'CONFLICT');
      expect(await readAll(store, 's')).toEqual(['last']);
    });

    it('closeStream of a missing stream is NOT_FOUND', async () => {
      const { store } = await open();
      await expectCode(store.closeStream('nope'), 'NOT_FOUND');
    });

    it('a partial read of a closed stream is not at the tail', async () => {
      const { store } = await open();
      await store.create('s', { contentType: TEXT, closed: true }, { messages: msgs('a', 'b') });
      expect(await store.read('s', '-1', { maxMessages: 1 })).toMatchObject({ atTail: false, closed: true });
    });
  });
}
