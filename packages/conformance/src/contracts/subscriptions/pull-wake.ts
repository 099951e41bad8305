import { describe, expect, it } from 'vitest';
import {
  accepted,
  claimedWake,
  claimProof,
  granted,
  LEASE,
  linkIn,
  linkOf,
  mustGet,
  off,
  only,
  pullWake,
  type SubscriptionOpen,
  webhook,
} from './fixtures.js';

export function subscriptionPullWakeTests(open: SubscriptionOpen): void {
  describe('pull-wake: claim, ack and release', () => {
    it('a worker claims the wake an append started: its lease, its token, the streams to read', async () => {
      const { store, clock } = await open();
      await store.put('pull', pullWake({ streams: ['jobs/1', 'jobs/2'] }));
      const notice = only(await store.noteAppend('jobs/1', off(3)));
      clock.advance(250);
      const claim = granted(await store.claim('pull', 'worker-1'));
      expect(claim.wake).toMatchObject({ id: notice.wake.id, generation: 1, holder: 'worker-1', leaseExpiresAt: clock.now() + LEASE });
      expect(claim.leaseTtlMs).toBe(LEASE);
      expect(typeof claim.token).toBe('string');
      expect(claim.token.length).toBeGreaterThanOrEqual(16);
      expect([...claim.links].sort((a, b) => a.path.localeCompare(b.path))).toEqual([
        linkOf('jobs/1', 'explicit', '-1', off(3)),
        linkOf('jobs/2', 'explicit'),
      ]);
      const sub = await mustGet(store, 'pull');
      expect(sub.wake).toEqual(claim.wake);
      expect(JSON.stringify(sub)).not.toContain(claim.token);
    });

    it('while claimed, other claims are ALREADY_CLAIMED naming the holder and the generation', async () => {
      const { store } = await open();
      await claimedWake(store, 'pull', 'worker-1');
      for (const worker of ['worker-2', 'worker-3']) {
        expect(await store.claim('pull', worker)).toEqual({ refused: 'ALREADY_CLAIMED', holder: 'worker-1', generation: 1 });
      }
      expect((await mustGet(store, 'pull')).wake?.holder).toBe('worker-1');
    });

    it('NO_PENDING_WORK before any append and once everything is acked; INVALID_REQUEST for a webhook one', async () => {
      const { store } = await open();
      await store.put('pull', pullWake());
      expect(await store.claim('pull', 'worker-1')).toEqual({ refused: 'NO_PENDING_WORK' });
      only(await store.noteAppend('jobs/1', off(2)));
      const claim = granted(await store.claim('pull', 'worker-1'));
      expect(await store.ack('pull', claimProof(claim), [{ stream: 'jobs/1', offset: off(2) }], true)).toEqual({ ok: true });
      expect(await store.claim('pull', 'worker-1')).toEqual({ refused: 'NO_PENDING_WORK' });
      await store.put('hook', webhook({ streams: ['jobs/1'] }));
      expect(await store.claim('hook', 'worker-1')).toEqual({ refused: 'INVALID_REQUEST' });
      expect((await store.noteAppend('jobs/1', off(3))).map((n) => n.subscription.id).sort()).toEqual(['hook', 'pull']);
      expect(await store.claim('hook', 'worker-1')).toEqual({ refused: 'INVALID_REQUEST' });
      expect((await mustGet(store, 'hook')).wake?.holder).toBeUndefined();
      expect(await store.claim('missing', 'worker-1')).toEqual({ refused: 'SUBSCRIPTION_NOT_FOUND' });
    });

    it('ack moves the acked offsets and extends the lease; done ends the wake and starts the next when work is pending', async () => {
      const { store, clock } = await open();
      const claim = await claimedWake(store, 'pull', 'worker-1', 2);
      expect(await store.noteAppend('jobs/1', off(4))).toEqual([]);
      clock.advance(10_000);
      expect(await store.ack('pull', claimProof(claim), [{ stream: 'jobs/1', offset: off(1) }], false)).toEqual({ ok: true });
      expect((await mustGet(store, 'pull')).wake?.leaseExpiresAt).toBe(clock.now() + LEASE);
      expect(await linkIn(store, 'pull', 'jobs/1')).toEqual(linkOf('jobs/1', 'explicit', off(1), off(4)));
      const done = accepted(await store.ack('pull', claimProof(claim), [{ stream: 'jobs/1', offset: off(2) }], true));
      expect(done.next).toBeDefined();
      expect(done.next!.wake.generation).toBe(2);
      expect(done.next!.wake.holder).toBeUndefined();
      expect(done.next!.callbackToken).toBeUndefined();
      expect(done.next!.triggeredBy).toBe('jobs/1');
      expect(await linkIn(store, 'pull', 'jobs/1')).toEqual(linkOf('jobs/1', 'explicit', off(2), off(4)));
      const second = granted(await store.claim('pull', 'worker-2'));
      expect(second.wake).toMatchObject({ id: done.next!.wake.id, generation: 2, holder: 'worker-2' });
      expect(await store.ack('pull', claimProof(second), [{ stream: 'jobs/1', offset: off(4) }], true)).toEqual({ ok: true });
      const sub = await mustGet(store, 'pull');
      expect(sub.wake).toBeUndefined();
      expect(sub.generation).toBe(2);
    });

    it('release ends the claim without acking; pending work starts the next wake at once', async () => {
      const { store } = await open();
      const claim = await claimedWake(store, 'pull', 'worker-1', 3);
      const released = accepted(await store.release('pull', claimProof(claim)));
      expect(released.next?.wake.generation).toBe(2);
      expect(released.next?.wake.holder).toBeUndefined();
      expect(await linkIn(store, 'pull', 'jobs/1')).toEqual(linkOf('jobs/1', 'explicit', '-1', off(3)));
      expect(await store.release('pull', claimProof(claim))).toEqual({ refused: 'FENCED' });
      const second = granted(await store.claim('pull', 'worker-2'));
      expect(second.wake.generation).toBe(2);
      // Acked without done, then released: nothing pending, so no next wake.
      accepted(await store.ack('pull', claimProof(second), [{ stream: 'jobs/1', offset: off(3) }], false));
      expect(await store.release('pull', claimProof(second))).toEqual({ ok: true });
      expect((await mustGet(store, 'pull')).wake).toBeUndefined();
      expect(await store.claim('pull', 'worker-3')).toEqual({ refused: 'NO_PENDING_WORK' });
    });

    it('a claimed wake whose lease ran out: its holder is FENCED, takeDue starts generation + 1 for the pending work', async () => {
      const { store, clock } = await open();
      const claim = await claimedWake(store, 'pull', 'worker-1', 2);
      clock.advance(LEASE - 1);
      expect(await store.takeDue({ limit: 10 })).toEqual([]);
      clock.advance(1);
      expect(await store.ack('pull', claimProof(claim), [{ stream: 'jobs/1', offset: off(1) }], false)).toEqual({ refused: 'FENCED' });
      const next = only(await store.takeDue({ limit: 10 }));
      expect(next.subscription.id).toBe('pull');
      expect(next.wake.generation).toBe(2);
      expect(next.wake.holder).toBeUndefined();
      expect(next.callbackToken).toBeUndefined();
      expect(await linkIn(store, 'pull', 'jobs/1')).toEqual(linkOf('jobs/1', 'explicit', '-1', off(2)));
      // An unclaimed wake has no running lease: it waits for a worker, however long.
      clock.advance(10 * LEASE);
      expect(await store.takeDue({ limit: 10 })).toEqual([]);
      expect(granted(await store.claim('pull', 'worker-2')).wake.generation).toBe(2);
    });

    it("a claim after the holder's lease ran out takes over with generation + 1", async () => {
      const { store, clock } = await open();
      const claim = await claimedWake(store, 'pull', 'worker-1', 2);
      clock.advance(LEASE);
      const taken = granted(await store.claim('pull', 'worker-2'));
      expect(taken.wake).toMatchObject({ generation: 2, holder: 'worker-2', leaseExpiresAt: clock.now() + LEASE });
      expect(taken.wake.id).not.toBe(claim.wake.id);
      expect(await store.ack('pull', claimProof(claim), [], true)).toEqual({ refused: 'FENCED' });
      expect(await store.ack('pull', claimProof(taken), [{ stream: 'jobs/1', offset: off(2) }], true)).toEqual({ ok: true });
    });
  });
}
