import type { SubscriptionDefinition } from '@stowage/core';
import { describe, expect, it } from 'vitest';
import {
  byPath,
  callbackProof,
  HOOK,
  LEASE,
  linkOf,
  mustGet,
  off,
  pullWake,
  type SubscriptionOpen,
  WAKES,
  webhook,
  webhookWake,
} from './fixtures.js';

/** Definitions that differ from `webhook({ pattern: 'orders/*', streams: [a, b], description })` in one field each. */
const DIFFERENT: readonly [string, SubscriptionDefinition][] = [
  ['another type', pullWake({ pattern: 'orders/*', streams: ['orders/a', 'orders/b'], description: 'd' })],
  ['another pattern', webhook({ pattern: 'orders/**', streams: ['orders/a', 'orders/b'], description: 'd' })],
  ['no pattern', webhook({ streams: ['orders/a', 'orders/b'], description: 'd' })],
  ['one stream more', webhook({ pattern: 'orders/*', streams: ['orders/a', 'orders/b', 'orders/c'], description: 'd' })],
  ['one stream less', webhook({ pattern: 'orders/*', streams: ['orders/a'], description: 'd' })],
  ['another webhook URL', webhook({ pattern: 'orders/*', streams: ['orders/a', 'orders/b'], description: 'd', webhookUrl: `${HOOK}2` })],
  ['another lease', webhook({ pattern: 'orders/*', streams: ['orders/a', 'orders/b'], description: 'd', leaseTtlMs: LEASE + 1 })],
  ['another description', webhook({ pattern: 'orders/*', streams: ['orders/a', 'orders/b'], description: 'e' })],
  ['no description', webhook({ pattern: 'orders/*', streams: ['orders/a', 'orders/b'] })],
];

export function subscriptionCreateTests(open: SubscriptionOpen): void {
  describe('put, get and delete', () => {
    it('put creates the subscription with explicit links and nothing acked', async () => {
      const { store, clock } = await open();
      const def = webhook({ pattern: 'orders/*', streams: ['orders/b', 'orders/a'], description: 'd' });
      const created = await store.put('sub-1', def);
      expect(created.status).toBe('created');
      const want = {
        id: 'sub-1',
        type: 'webhook',
        pattern: 'orders/*',
        webhookUrl: HOOK,
        leaseTtlMs: LEASE,
        description: 'd',
        createdAt: clock.now(),
        status: 'active',
        generation: 0,
        links: [linkOf('orders/a', 'explicit'), linkOf('orders/b', 'explicit')],
      };
      const { streams, links, ...rest } = created.subscription;
      expect({ ...rest, links: byPath(links) }).toEqual(want);
      expect([...streams].sort()).toEqual(['orders/a', 'orders/b']);
      expect(created.subscription.wake).toBeUndefined();
      expect(created.subscription.delivery).toBeUndefined();
      const read = await mustGet(store, 'sub-1');
      expect({ ...read, links: byPath(read.links) }).toEqual({ ...created.subscription, links: byPath(created.subscription.links) });
    });

    it('a pull-wake subscription keeps its wake stream and has no webhook URL', async () => {
      const { store } = await open();
      const created = await store.put('pull', pullWake({ description: 'workers' }));
      expect(created.status).toBe('created');
      expect(created.subscription).toMatchObject({ type: 'pull-wake', wakeStream: WAKES, streams: ['jobs/1'], description: 'workers' });
      expect(created.subscription.webhookUrl).toBeUndefined();
      expect((await mustGet(store, 'pull')).wakeStream).toBe(WAKES);
    });

    it('the same definition confirms (exists), whatever the order of its streams, and keeps createdAt', async () => {
      const { store, clock } = await open();
      const first = await store.put('sub-1', webhook({ pattern: 'orders/*', streams: ['orders/b', 'orders/a'], description: 'd' }));
      const createdAt = clock.now();
      clock.advance(5000);
      for (const streams of [
        ['orders/b', 'orders/a'],
        ['orders/a', 'orders/b'],
      ]) {
        const again = await store.put('sub-1', webhook({ pattern: 'orders/*', streams, description: 'd' }));
        expect(again.status, `put with streams ${streams.join(', ')}`).toBe('exists');
        expect(again.subscription.createdAt).toBe(createdAt);
        expect(byPath(again.subscription.links)).toEqual(byPath(first.subscription.links));
      }
      expect((await mustGet(store, 'sub-1')).createdAt).toBe(createdAt);
    });

    it('a definition that differs in any one field is a conflict, answered with the stored one; nothing changes', async () => {
      const { store, clock } = await open();
      const stored = webhook({ pattern: 'orders/*', streams: ['orders/a', 'orders/b'], description: 'd' });
      await store.put('sub-1', stored);
      const before = await mustGet(store, 'sub-1');
      clock.advance(1000);
      for (const [label, def] of DIFFERENT) {
        const r = await store.put('sub-1', def);
        expect(r.status, label).toBe('conflict');
        expect({ ...r.subscription, links: byPath(r.subscription.links) }, label).toEqual({ ...before, links: byPath(before.links) });
      }
      const after = await mustGet(store, 'sub-1');
      expect({ ...after, links: byPath(after.links) }).toEqual({ ...before, links: byPath(before.links) });
      // The conflicting definitions' streams and patterns joined nothing.
      expect(await store.noteAppend('orders/c', off(1))).toHaveLength(1); // by the stored pattern
      expect(await store.noteAppend('orders/x/y', off(1))).toEqual([]); // 'orders/**' was refused
      expect((await mustGet(store, 'sub-1')).links.map((l) => l.path).sort()).toEqual(['orders/a', 'orders/b', 'orders/c']);
    });

    it('get of an unknown id is undefined; ids are distinct records', async () => {
      const { store } = await open();
      expect(await store.get('nobody')).toBeUndefined();
      await store.put('a', webhook());
      await store.put('A', pullWake());
      expect((await mustGet(store, 'a')).type).toBe('webhook');
      expect((await mustGet(store, 'A')).type).toBe('pull-wake');
      expect(await store.get('a ')).toBeUndefined();
    });

    it('delete removes the subscription with its wake; a second delete is false; the id can be created afresh', async () => {
      const { store } = await open();
      const notice = await webhookWake(store, 'sub-1');
      expect(await store.delete('sub-1')).toBe(true);
      expect(await store.get('sub-1')).toBeUndefined();
      expect(await store.delete('sub-1')).toBe(false);
      expect(await store.delete('never')).toBe(false);
      const again = await store.put('sub-1', webhook());
      expect(again.status).toBe('created');
      expect(again.subscription.wake).toBeUndefined();
      expect(again.subscription.links).toEqual([linkOf('orders/1', 'explicit')]);
      // The deleted subscription's callback token opens nothing of the new one.
      const next = await store.noteAppend('orders/1', off(3));
      expect(next).toHaveLength(1);
      expect(await store.ack('sub-1', callbackProof(notice), [], true)).toEqual({ refused: 'TOKEN_INVALID' });
    });

    it('after delete, every call on the id answers for a missing subscription and none recreates it', async () => {
      const { store } = await open();
      const notice = await webhookWake(store, 'sub-1');
      await store.put('pull', pullWake({ streams: ['orders/1'] }));
      expect(await store.delete('sub-1')).toBe(true);
      expect(await store.ack('sub-1', callbackProof(notice), [{ stream: 'orders/1', offset: off(1) }], true)).toEqual({
        refused: 'SUBSCRIPTION_NOT_FOUND',
      });
      expect(await store.release('sub-1', callbackProof(notice))).toEqual({ refused: 'SUBSCRIPTION_NOT_FOUND' });
      expect(await store.claim('sub-1', 'worker')).toEqual({ refused: 'SUBSCRIPTION_NOT_FOUND' });
      expect(await store.reportDelivery('sub-1', notice.wake.id, 'failed')).toEqual({ ok: true });
      expect(await store.addStreams('sub-1', ['orders/2'])).toBe(false);
      expect(await store.removeStream('sub-1', 'orders/1')).toBe(false);
      // The other subscription on the stream still wakes; the deleted one does not.
      const woken = await store.noteAppend('orders/1', off(2));
      expect(woken.map((n) => n.subscription.id)).toEqual(['pull']);
      expect(await store.takeDue({ limit: 100 })).toEqual([]);
      expect(await store.get('sub-1')).toBeUndefined();
    });
  });
}
