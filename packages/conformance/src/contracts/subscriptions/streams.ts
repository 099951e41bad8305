import { describe, expect, it } from 'vitest';
import { accepted, byPath, callbackProof, linkIn, linkOf, mustGet, off, only, type SubscriptionOpen, webhook } from './fixtures.js';

export function subscriptionStreamTests(open: SubscriptionOpen): void {
  describe('addStreams, removeStream and noteDelete', () => {
    it('addStreams links streams explicitly; the created definition still confirms', async () => {
      const { store } = await open();
      await store.put('sub', webhook());
      expect(await store.addStreams('sub', ['orders/2', 'orders/3', 'orders/2'])).toBe(true);
      const sub = await mustGet(store, 'sub');
      expect(byPath(sub.links)).toEqual([linkOf('orders/1', 'explicit'), linkOf('orders/2', 'explicit'), linkOf('orders/3', 'explicit')]);
      expect(sub.streams).toEqual(['orders/1']);
      expect((await store.put('sub', webhook())).status).toBe('exists');
      // An added stream wakes the subscription like a created one.
      const notice = only(await store.noteAppend('orders/3', off(4)));
      expect(notice).toMatchObject({ triggeredBy: 'orders/3', wake: { generation: 1 } });
      expect(await store.addStreams('sub', [])).toBe(true);
    });

    it('addStreams of a stream already linked by the pattern makes it explicit and keeps its offsets', async () => {
      const { store } = await open();
      await store.put('sub', webhook({ pattern: 'orders/*', streams: [] }));
      const notice = only(await store.noteAppend('orders/9', off(3)));
      accepted(await store.ack('sub', callbackProof(notice), [{ stream: 'orders/9', offset: off(2) }], false));
      expect(await linkIn(store, 'sub', 'orders/9')).toEqual(linkOf('orders/9', 'glob', off(2), off(3)));
      expect(await store.addStreams('sub', ['orders/9'])).toBe(true);
      expect(await linkIn(store, 'sub', 'orders/9')).toEqual(linkOf('orders/9', 'explicit', off(2), off(3)));
    });

    it('addStreams and removeStream of a missing subscription are false and create nothing', async () => {
      const { store } = await open();
      expect(await store.addStreams('ghost', ['orders/1'])).toBe(false);
      expect(await store.removeStream('ghost', 'orders/1')).toBe(false);
      expect(await store.get('ghost')).toBeUndefined();
      expect(await store.noteAppend('orders/1', off(1))).toEqual([]);
      expect(await store.get('ghost')).toBeUndefined();
    });

    it('removeStream drops an explicit link: later appends neither link nor wake', async () => {
      const { store } = await open();
      await store.put('sub', webhook({ streams: ['orders/1', 'orders/2'] }));
      expect(await store.removeStream('sub', 'orders/2')).toBe(true);
      expect(byPath((await mustGet(store, 'sub')).links)).toEqual([linkOf('orders/1', 'explicit')]);
      expect(await store.noteAppend('orders/2', off(1))).toEqual([]);
      expect(byPath((await mustGet(store, 'sub')).links)).toEqual([linkOf('orders/1', 'explicit')]);
      // Removing a stream that is not linked changes nothing.
      expect(await store.removeStream('sub', 'orders/7')).toBe(true);
      expect(byPath((await mustGet(store, 'sub')).links)).toEqual([linkOf('orders/1', 'explicit')]);
    });

    it('removeStream of a stream the pattern also matched keeps the glob link with its offsets', async () => {
      const { store } = await open();
      await store.put('sub', webhook({ pattern: 'orders/*', streams: ['orders/1'] }));
      const notice = only(await store.noteAppend('orders/1', off(5)));
      accepted(await store.ack('sub', callbackProof(notice), [{ stream: 'orders/1', offset: off(3) }], false));
      expect(await linkIn(store, 'sub', 'orders/1')).toEqual(linkOf('orders/1', 'explicit', off(3), off(5)));
      expect(await store.removeStream('sub', 'orders/1')).toBe(true);
      expect(await linkIn(store, 'sub', 'orders/1')).toEqual(linkOf('orders/1', 'glob', off(3), off(5)));
      // Still a member: its next append moves the tail.
      expect(await store.noteAppend('orders/1', off(6))).toEqual([]); // the wake is still in progress
      expect(await linkIn(store, 'sub', 'orders/1')).toEqual(linkOf('orders/1', 'glob', off(3), off(6)));
      // A glob-only link is not removed by removeStream.
      expect(await store.removeStream('sub', 'orders/1')).toBe(true);
      expect(await linkIn(store, 'sub', 'orders/1')).toEqual(linkOf('orders/1', 'glob', off(3), off(6)));
    });

    it('noteDelete forgets the stream in every subscription; a new stream of that name joins from scratch', async () => {
      const { store } = await open();
      await store.put('a', webhook({ pattern: 'orders/*', streams: [] }));
      await store.put('b', webhook({ pattern: 'orders/**', streams: ['other/1'] }));
      const first = await store.noteAppend('orders/1', off(4));
      expect(first.map((n) => n.subscription.id).sort()).toEqual(['a', 'b']);
      for (const n of first) {
        const id = n.subscription.id;
        accepted(await store.ack(id, callbackProof(n), [{ stream: 'orders/1', offset: off(4) }], true));
      }
      await store.noteDelete('orders/1');
      expect(await linkIn(store, 'a', 'orders/1')).toBeUndefined();
      expect(await linkIn(store, 'b', 'orders/1')).toBeUndefined();
      expect(byPath((await mustGet(store, 'b')).links)).toEqual([linkOf('other/1', 'explicit')]);
      await store.noteDelete('never/existed');
      // Recreated: offsets restart, so nothing of the old stream counts as acked.
      const again = await store.noteAppend('orders/1', off(1));
      expect(again.map((n) => n.subscription.id).sort()).toEqual(['a', 'b']);
      expect(await linkIn(store, 'a', 'orders/1')).toEqual(linkOf('orders/1', 'glob', '-1', off(1)));
    });
  });
}
