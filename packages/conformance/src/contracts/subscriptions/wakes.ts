import { describe, expect, it } from 'vitest';
import {
  accepted,
  byPath,
  callbackProof,
  linkIn,
  linkOf,
  mustGet,
  off,
  only,
  pullWake,
  type SubscriptionOpen,
  webhook,
} from './fixtures.js';

export function subscriptionWakeTests(open: SubscriptionOpen): void {
  describe('noteAppend: links and wakes', () => {
    it('an append to a stream no subscription names or matches starts nothing and links nothing', async () => {
      const { store } = await open();
      await store.put('sub', webhook({ pattern: 'orders/*', streams: ['orders/1'] }));
      expect(await store.noteAppend('invoices/1', off(1))).toEqual([]);
      expect(await store.noteAppend('orders/1/items', off(1))).toEqual([]); // '*' is one segment
      expect(byPath((await mustGet(store, 'sub')).links)).toEqual([linkOf('orders/1', 'explicit')]);
    });

    it('the first append to a matching stream links it (glob) and starts exactly one wake, generation 1', async () => {
      const { store } = await open();
      await store.put('sub', webhook({ pattern: 'events/*', streams: [] }));
      expect((await mustGet(store, 'sub')).links).toEqual([]);
      const notice = only(await store.noteAppend('events/a', off(2)));
      expect(notice.triggeredBy).toBe('events/a');
      expect(notice.wake.generation).toBe(1);
      expect(typeof notice.wake.id).toBe('string');
      expect(notice.wake.snapshot).toEqual([{ path: 'events/a', tailOffset: off(2) }]);
      expect(typeof notice.callbackToken).toBe('string');
      expect(notice.callbackToken!.length).toBeGreaterThanOrEqual(16);
      expect(notice.subscription).toMatchObject({ id: 'sub', generation: 1, wake: { id: notice.wake.id, generation: 1 } });
      expect(notice.subscription.links).toEqual([linkOf('events/a', 'glob', '-1', off(2))]);
      const stored = await mustGet(store, 'sub');
      expect(stored.links).toEqual([linkOf('events/a', 'glob', '-1', off(2))]);
      expect(stored.generation).toBe(1);
      expect(stored.wake).toEqual(notice.wake);
      // Never the token itself.
      expect(JSON.stringify(stored)).not.toContain(notice.callbackToken);
    });

    it("'**' matches any depth, '*' exactly one segment", async () => {
      const { store } = await open();
      await store.put('deep', webhook({ pattern: 'tenants/**/audit', streams: [] }));
      await store.put('flat', webhook({ pattern: 'tenants/*/audit', streams: [] }));
      const ids = async (stream: string) => (await store.noteAppend(stream, off(1))).map((n) => n.subscription.id).sort();
      expect(await ids('tenants/audit')).toEqual(['deep']);
      expect(await ids('tenants/t1/audit')).toEqual(['flat']); // deep's wake is in progress
      expect((await linkIn(store, 'deep', 'tenants/t1/audit'))?.linkType).toBe('glob');
      expect(await ids('tenants/t1/x/audit')).toEqual([]);
      expect(await ids('tenants/t1')).toEqual([]);
      expect(await linkIn(store, 'deep', 'tenants/t1')).toBeUndefined();
      expect((await linkIn(store, 'deep', 'tenants/t1/x/audit'))?.linkType).toBe('glob');
      expect(await linkIn(store, 'flat', 'tenants/t1/x/audit')).toBeUndefined();
    });

    it('a pull-wake wake is announced without a callback token and is unclaimed', async () => {
      const { store } = await open();
      await store.put('pull', pullWake());
      const notice = only(await store.noteAppend('jobs/1', off(1)));
      expect(notice.callbackToken).toBeUndefined();
      expect(notice.triggeredBy).toBe('jobs/1');
      expect(notice.wake.holder).toBeUndefined();
      expect(notice.wake.generation).toBe(1);
    });

    it('an append during a wake starts none; the tail still moves', async () => {
      const { store } = await open();
      await store.put('sub', webhook({ streams: ['orders/1', 'orders/2'] }));
      const notice = only(await store.noteAppend('orders/1', off(1)));
      expect(await store.noteAppend('orders/1', off(2))).toEqual([]);
      expect(await store.noteAppend('orders/2', off(7))).toEqual([]);
      const sub = await mustGet(store, 'sub');
      expect(sub.generation).toBe(1);
      expect(sub.wake?.id).toBe(notice.wake.id);
      expect(byPath(sub.links)).toEqual([linkOf('orders/1', 'explicit', '-1', off(2)), linkOf('orders/2', 'explicit', '-1', off(7))]);
    });

    it('tails only move forward: a late report of an older tail changes nothing and wakes nothing', async () => {
      const { store } = await open();
      await store.put('sub', webhook());
      const notice = only(await store.noteAppend('orders/1', off(5)));
      expect(await store.noteAppend('orders/1', off(3))).toEqual([]);
      expect(await linkIn(store, 'sub', 'orders/1')).toEqual(linkOf('orders/1', 'explicit', '-1', off(5)));
      // Everything acked, the wake over: an older or equal tail still starts nothing.
      accepted(await store.ack('sub', callbackProof(notice), [{ stream: 'orders/1', offset: off(5) }], true));
      expect(await store.noteAppend('orders/1', off(4))).toEqual([]);
      expect(await store.noteAppend('orders/1', off(5))).toEqual([]);
      const sub = await mustGet(store, 'sub');
      expect(sub.wake).toBeUndefined();
      expect(sub.generation).toBe(1);
      expect(sub.links).toEqual([linkOf('orders/1', 'explicit', off(5), off(5))]);
      // A newer tail wakes it again, generation 2.
      expect(only(await store.noteAppend('orders/1', off(6))).wake.generation).toBe(2);
    });

    it('one append wakes every subscription it concerns, once each', async () => {
      const { store } = await open();
      await store.put('by-name', webhook({ streams: ['orders/1'] }));
      await store.put('by-pattern', webhook({ pattern: 'orders/*', streams: [] }));
      await store.put('both', pullWake({ pattern: 'orders/*', streams: ['orders/1'] }));
      await store.put('other', webhook({ streams: ['orders/2'] }));
      const notices = await store.noteAppend('orders/1', off(1));
      expect(notices.map((n) => n.subscription.id).sort()).toEqual(['both', 'by-name', 'by-pattern']);
      expect(notices.every((n) => n.triggeredBy === 'orders/1' && n.wake.generation === 1)).toBe(true);
      expect(new Set(notices.map((n) => n.wake.id)).size).toBe(3);
      expect((await linkIn(store, 'both', 'orders/1'))?.linkType).toBe('explicit');
      expect((await mustGet(store, 'other')).wake).toBeUndefined();
    });
  });
}
