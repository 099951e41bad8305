import { describe, expect, it } from 'vitest';
import {
  accepted,
  byPath,
  callbackProof,
  LEASE,
  linkOf,
  mustGet,
  off,
  only,
  stateOf,
  type SubscriptionOpen,
  webhook,
  webhookWake,
} from './fixtures.js';

/** A generous bound on any store's `maxDeliveryAttempts`. */
const ATTEMPTS_BOUND = 1000;

export function subscriptionWebhookTests(open: SubscriptionOpen): void {
  describe('webhook deliveries: reportDelivery and takeDue', () => {
    it("'done' acks the wake's snapshot (not later tails) and ends the wake; pending work starts the next", async () => {
      const { store } = await open();
      await store.put('sub', webhook({ streams: ['orders/1', 'orders/2'] }));
      const first = only(await store.noteAppend('orders/1', off(3)));
      expect(await store.noteAppend('orders/1', off(5))).toEqual([]);
      const done = await store.reportDelivery('sub', first.wake.id, 'done');
      expect(byPath((await mustGet(store, 'sub')).links)).toEqual([
        linkOf('orders/1', 'explicit', off(3), off(5)),
        linkOf('orders/2', 'explicit', '-1', '-1'),
      ]);
      // off(4..5) is still pending: the next wake starts in the same step.
      expect(done.ok).toBe(true);
      expect(done.next).toBeDefined();
      expect(done.next!.wake.generation).toBe(2);
      expect(done.next!.wake.id).not.toBe(first.wake.id);
      expect(typeof done.next!.callbackToken).toBe('string');
      expect(done.next!.wake.snapshot).toContainEqual({ path: 'orders/1', tailOffset: off(5) });
      expect(await store.ack('sub', callbackProof(first), [], false)).toEqual({ refused: 'FENCED' });
      // Nothing pending after the second: the wake just ends.
      expect(await store.reportDelivery('sub', done.next!.wake.id, 'done')).toEqual({ ok: true });
      const sub = await mustGet(store, 'sub');
      expect(sub.wake).toBeUndefined();
      expect(sub.delivery).toBeUndefined();
      expect(sub.status).toBe('active');
      expect(sub.generation).toBe(2);
      expect(sub.links.find((l) => l.path === 'orders/1')).toEqual(linkOf('orders/1', 'explicit', off(5), off(5)));
    });

    it("'accepted' starts the lease; a callback ack extends it; when it runs out takeDue starts generation + 1", async () => {
      const { store, clock } = await open();
      const notice = await webhookWake(store, 'sub', 4);
      clock.advance(700);
      expect(await store.reportDelivery('sub', notice.wake.id, 'accepted')).toEqual({ ok: true });
      let sub = await mustGet(store, 'sub');
      expect(sub.delivery).toBeUndefined();
      expect(sub.status).toBe('active');
      expect(sub.wake?.leaseExpiresAt).toBe(clock.now() + LEASE);
      clock.advance(LEASE - 1);
      expect(await store.takeDue({ limit: 10 })).toEqual([]);
      // The receiver acks part of it: the lease is LEASE from now again.
      accepted(await store.ack('sub', callbackProof(notice), [{ stream: 'orders/1', offset: off(2) }], false));
      sub = await mustGet(store, 'sub');
      expect(sub.wake?.leaseExpiresAt).toBe(clock.now() + LEASE);
      clock.advance(LEASE - 1);
      expect(await store.takeDue({ limit: 10 })).toEqual([]);
      clock.advance(1);
      const next = only(await store.takeDue({ limit: 10 }));
      expect(next.subscription.id).toBe('sub');
      expect(next.wake.generation).toBe(2);
      expect(next.wake.id).not.toBe(notice.wake.id);
      expect(typeof next.callbackToken).toBe('string');
      expect(next.wake.snapshot).toEqual([{ path: 'orders/1', tailOffset: off(4) }]);
      expect(await store.takeDue({ limit: 10 })).toEqual([]);
      expect(await store.ack('sub', callbackProof(notice), [], true)).toEqual({ refused: 'FENCED' });
      expect((await mustGet(store, 'sub')).links).toEqual([linkOf('orders/1', 'explicit', off(2), off(4))]);
    });

    it('a lease that runs out with nothing pending ends the wake and announces nothing', async () => {
      const { store, clock } = await open();
      const notice = await webhookWake(store, 'sub', 2);
      await store.reportDelivery('sub', notice.wake.id, 'accepted');
      accepted(await store.ack('sub', callbackProof(notice), [{ stream: 'orders/1', offset: off(2) }], false));
      clock.advance(LEASE);
      expect(await store.takeDue({ limit: 10 })).toEqual([]);
      const sub = await mustGet(store, 'sub');
      expect(sub.wake).toBeUndefined();
      expect(sub.generation).toBe(1);
      expect(await store.ack('sub', callbackProof(notice), [], true)).toEqual({ refused: 'FENCED' });
    });

    it("'failed' schedules a retry that takeDue hands out once, only when due, with a new callback token", async () => {
      const { store, clock } = await open();
      const notice = await webhookWake(store, 'sub');
      expect(await store.reportDelivery('sub', notice.wake.id, 'failed')).toEqual({ ok: true });
      const sub = await mustGet(store, 'sub');
      expect(sub.status).toBe('failed');
      expect(sub.wake?.id).toBe(notice.wake.id);
      expect(sub.delivery?.attempts).toBe(1);
      const due = sub.delivery!.nextAttemptAt;
      const firstDelay = due - clock.now();
      expect(firstDelay).toBeGreaterThan(0);
      clock.set(due - 1);
      expect(await store.takeDue({ limit: 10 })).toEqual([]);
      clock.set(due);
      const retry = only(await store.takeDue({ limit: 10 }));
      expect(retry.wake.id).toBe(notice.wake.id);
      expect(retry.wake.generation).toBe(1);
      expect(retry.subscription.status).toBe('failed');
      expect(typeof retry.callbackToken).toBe('string');
      expect(retry.callbackToken).not.toBe(notice.callbackToken);
      // The attempt is the taker's: nobody else gets it meanwhile.
      expect(await store.takeDue({ limit: 10 })).toEqual([]);
      // A second failure waits longer (exponential backoff, below any cap).
      expect(await store.reportDelivery('sub', notice.wake.id, 'failed')).toEqual({ ok: true });
      const again = (await mustGet(store, 'sub')).delivery!;
      expect(again.attempts).toBe(2);
      if (firstDelay < 20_000) expect(again.nextAttemptAt - clock.now()).toBeGreaterThan(firstDelay);
      // The retry's token is the one callbacks now give.
      clock.set(again.nextAttemptAt);
      const third = only(await store.takeDue({ limit: 10 }));
      accepted(await store.ack('sub', callbackProof(third), [{ stream: 'orders/1', offset: off(1) }], false));
      expect(await store.reportDelivery('sub', notice.wake.id, 'accepted')).toEqual({ ok: true });
      const ok = await mustGet(store, 'sub');
      expect(ok.status).toBe('active');
      expect(ok.delivery).toBeUndefined();
    });

    it('after the last attempt fails the wake is dropped: status stays failed, nothing is retried', async () => {
      const { store, clock } = await open();
      const notice = await webhookWake(store, 'sub');
      let failures = 0;
      for (;;) {
        expect(await store.reportDelivery('sub', notice.wake.id, 'failed')).toEqual({ ok: true });
        failures++;
        const sub = await mustGet(store, 'sub');
        expect(sub.status).toBe('failed');
        if (sub.wake === undefined) break;
        expect(sub.delivery?.attempts, `after ${failures} failures`).toBe(failures);
        expect(failures, 'a wake dropped after a bounded number of failed deliveries').toBeLessThan(ATTEMPTS_BOUND);
        clock.set(sub.delivery!.nextAttemptAt);
        expect(only(await store.takeDue({ limit: 10 })).wake.id).toBe(notice.wake.id);
      }
      const dropped = await mustGet(store, 'sub');
      expect(dropped.delivery).toBeUndefined();
      expect(dropped.generation).toBe(1);
      expect(dropped.links).toEqual([linkOf('orders/1', 'explicit', '-1', off(1))]);
      clock.advance(24 * 3_600_000);
      expect(await store.takeDue({ limit: 10 })).toEqual([]);
      const before = await stateOf(store, 'sub');
      expect(await store.reportDelivery('sub', notice.wake.id, 'failed')).toEqual({ ok: true });
      expect(await store.reportDelivery('sub', notice.wake.id, 'done')).toEqual({ ok: true });
      expect(await stateOf(store, 'sub')).toEqual(before);
      // The next append wakes it again.
      const next = only(await store.noteAppend('orders/1', off(2)));
      expect(next.wake.generation).toBe(2);
    });

    it('an attempt nobody reported is handed out again once the delivery timeout passes, to one taker', async () => {
      const { store, clock } = await open();
      const notice = await webhookWake(store, 'sub');
      expect(await store.takeDue({ limit: 10 })).toEqual([]);
      const due = (await mustGet(store, 'sub')).delivery!.nextAttemptAt;
      expect(due).toBeGreaterThan(clock.now());
      clock.set(due - 1);
      expect(await store.takeDue({ limit: 10 })).toEqual([]);
      clock.set(due);
      const retaken = only(await store.takeDue({ limit: 10 }));
      expect(retaken.wake.id).toBe(notice.wake.id);
      expect(retaken.wake.generation).toBe(1);
      expect(await store.takeDue({ limit: 10 })).toEqual([]);
    });

    it('takeDue hands out at most limit notices; the rest stay due', async () => {
      const { store, clock } = await open();
      for (let i = 0; i < 5; i++) {
        await store.put(`sub-${i}`, webhook());
      }
      expect(await store.noteAppend('orders/1', off(1))).toHaveLength(5);
      clock.advance(24 * 3_600_000);
      const first = await store.takeDue({ limit: 2 });
      expect(first).toHaveLength(2);
      const rest = await store.takeDue({ limit: 10 });
      expect(rest).toHaveLength(3);
      expect(new Set([...first, ...rest].map((n) => n.subscription.id)).size).toBe(5);
    });

    it('reportDelivery of a wake that is not the one in progress changes nothing', async () => {
      const { store } = await open();
      const notice = await webhookWake(store, 'sub');
      const before = await stateOf(store, 'sub');
      for (const outcome of ['done', 'accepted', 'failed'] as const) {
        expect(await store.reportDelivery('sub', 'w_not-this-one', outcome)).toEqual({ ok: true });
        expect(await store.reportDelivery('missing', notice.wake.id, outcome)).toEqual({ ok: true });
      }
      expect(await stateOf(store, 'sub')).toEqual(before);
      expect(await store.get('missing')).toBeUndefined();
    });
  });
}
