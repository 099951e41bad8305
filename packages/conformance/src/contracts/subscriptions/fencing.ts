import type { SubscriptionAck } from '@stowage/core';
import { describe, expect, it } from 'vitest';
import {
  accepted,
  callbackProof,
  claimedWake,
  claimProof,
  LEASE,
  off,
  only,
  stateOf,
  type SubscriptionOpen,
  webhook,
  webhookWake,
} from './fixtures.js';

export function subscriptionFencingTests(open: SubscriptionOpen): void {
  describe('fencing: tokens, generations and offsets', () => {
    it('the right token with another generation or wake id is FENCED; nothing changes', async () => {
      const { store } = await open();
      const claim = await claimedWake(store, 'pull', 'worker-1', 2);
      const proof = claimProof(claim);
      const before = await stateOf(store, 'pull');
      const ack = [{ stream: 'jobs/1', offset: off(1) }];
      for (const bad of [
        { ...proof, generation: proof.generation - 1 },
        { ...proof, generation: proof.generation + 1 },
        { ...proof, wakeId: `${proof.wakeId}x` },
      ]) {
        expect(await store.ack('pull', bad, ack, true), JSON.stringify(bad)).toEqual({ refused: 'FENCED' });
        expect(await store.release('pull', bad), JSON.stringify(bad)).toEqual({ refused: 'FENCED' });
      }
      expect(await stateOf(store, 'pull')).toEqual(before);
    });

    it('a token never given is TOKEN_INVALID; nothing changes', async () => {
      const { store } = await open();
      const claim = await claimedWake(store, 'pull', 'worker-1', 2);
      const before = await stateOf(store, 'pull');
      for (const token of ['nope', `${claim.token}x`, claim.token.slice(0, -1), 'a'.repeat(claim.token.length)]) {
        const proof = { ...claimProof(claim), token };
        expect(await store.ack('pull', proof, [{ stream: 'jobs/1', offset: off(1) }], true), token).toEqual({ refused: 'TOKEN_INVALID' });
        expect(await store.release('pull', proof), token).toEqual({ refused: 'TOKEN_INVALID' });
      }
      // Another subscription's valid token is not this one's.
      const other = await claimedWake(store, 'pull-2', 'worker-1', 2);
      expect(await store.ack('pull', { ...claimProof(claim), token: other.token }, [], false)).toEqual({ refused: 'TOKEN_INVALID' });
      expect(await stateOf(store, 'pull')).toEqual(before);
    });

    it("the token of a wake that ended is FENCED, the last one's and older ones'", async () => {
      const { store } = await open();
      const notice = await webhookWake(store, 'sub', 1);
      const gen1 = callbackProof(notice);
      accepted(await store.ack('sub', gen1, [{ stream: 'orders/1', offset: off(1) }], true));
      expect(await store.ack('sub', gen1, [{ stream: 'orders/1', offset: off(1) }], true)).toEqual({ refused: 'FENCED' });
      const gen2 = callbackProof(only(await store.noteAppend('orders/1', off(2))));
      accepted(await store.ack('sub', gen2, [{ stream: 'orders/1', offset: off(2) }], true));
      only(await store.noteAppend('orders/1', off(3)));
      const before = await stateOf(store, 'sub');
      for (const stale of [gen1, gen2]) {
        expect(await store.ack('sub', stale, [], false)).toEqual({ refused: 'FENCED' });
        expect(await store.release('sub', stale)).toEqual({ refused: 'FENCED' });
      }
      expect(await stateOf(store, 'sub')).toEqual(before);
    });

    it('a wake whose lease ran out is over: its token is FENCED even before takeDue notices', async () => {
      const { store, clock } = await open();
      const claim = await claimedWake(store, 'pull', 'worker-1', 2);
      clock.advance(LEASE - 1);
      accepted(await store.ack('pull', claimProof(claim), [], false)); // renews: LEASE from now
      clock.advance(LEASE);
      expect(await store.ack('pull', claimProof(claim), [{ stream: 'jobs/1', offset: off(1) }], false)).toEqual({ refused: 'FENCED' });
      expect(await store.release('pull', claimProof(claim))).toEqual({ refused: 'FENCED' });
    });

    it('a webhook wake whose delivery is still being retried has no running lease: its callback is accepted', async () => {
      const { store, clock } = await open();
      const first = await webhookWake(store, 'sub', 2);
      // Nobody reports the attempts; each is handed out again after the delivery timeout, well past LEASE.
      let latest = first;
      while (clock.now() - first.subscription.createdAt <= 2 * LEASE) {
        clock.set((await store.get('sub'))!.delivery!.nextAttemptAt);
        latest = only(await store.takeDue({ limit: 10 }));
        expect(latest.wake.id).toBe(first.wake.id);
      }
      expect(await store.ack('sub', callbackProof(latest), [{ stream: 'orders/1', offset: off(2) }], true)).toEqual({ ok: true });
    });

    it('INVALID_OFFSET: a stream not linked, -1, behind the acked offset, past the tail; all acks or none', async () => {
      const { store, clock } = await open();
      await store.put('sub', webhook({ streams: ['orders/1', 'orders/2'] }));
      const notice = only(await store.noteAppend('orders/1', off(5)));
      expect(await store.noteAppend('orders/2', off(3))).toEqual([]);
      const proof = callbackProof(notice);
      accepted(await store.ack('sub', proof, [{ stream: 'orders/1', offset: off(2) }], false));
      clock.advance(1000);
      const before = await stateOf(store, 'sub');
      const bad: [string, SubscriptionAck][] = [
        ['a stream not linked', { stream: 'orders/9', offset: off(1) }],
        ['-1', { stream: 'orders/1', offset: '-1' }],
        ['behind the acked offset', { stream: 'orders/1', offset: off(1) }],
        ['past the tail', { stream: 'orders/1', offset: off(6) }],
        ['past a tail of -1 (never appended)', { stream: 'orders/2', offset: off(4) }],
      ];
      for (const [label, ack] of bad) {
        const good = { stream: 'orders/2', offset: off(1) };
        expect(await store.ack('sub', proof, [ack], false), label).toEqual({ refused: 'INVALID_OFFSET' });
        expect(await store.ack('sub', proof, [good, ack], true), `${label}, after a valid ack`).toEqual({ refused: 'INVALID_OFFSET' });
      }
      // Nothing applied, the lease not renewed, the wake not ended.
      expect(await stateOf(store, 'sub')).toEqual(before);
      // The same offset again and the tail itself are fine.
      accepted(await store.ack('sub', proof, [{ stream: 'orders/1', offset: off(2) }], false));
      accepted(
        await store.ack(
          'sub',
          proof,
          [
            { stream: 'orders/1', offset: off(5) },
            { stream: 'orders/2', offset: off(3) },
          ],
          false,
        ),
      );
      const sub = (await store.get('sub'))!;
      expect(sub.links.every((l) => !l.hasPending)).toBe(true);
    });

    it('a claim token and a callback token are only good for their own subscription and wake', async () => {
      const { store } = await open();
      const claim = await claimedWake(store, 'pull', 'worker-1', 1);
      const notice = await webhookWake(store, 'hook', 1);
      expect(await store.ack('hook', claimProof(claim), [], false)).toEqual({ refused: 'TOKEN_INVALID' });
      expect(await store.ack('pull', callbackProof(notice), [], false)).toEqual({ refused: 'TOKEN_INVALID' });
    });
  });
}
