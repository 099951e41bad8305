import type { AckResult, Claim, Refused, SubscriptionStore } from '@stowage/core';
import { describe, expect, it } from 'vitest';
import { fulfilled, rejectedCodes } from '../../helpers.js';
import { raceOnReplicas } from '../../replicas.js';
import {
  claimedWake,
  claimProof,
  isRefused,
  LEASE,
  linkIn,
  mustGet,
  off,
  only,
  pullWake,
  type SubscriptionOpen,
  webhook,
  webhookWake,
} from './fixtures.js';
import { signingKey } from './signing-keys.js';

/**
 * The atomic steps of the contract under contention. Where the backend shares a namespace
 * between instances (`sharedNamespace`), the callers are split over two stores on one
 * namespace, as two replicas are; otherwise they all call the one instance.
 */
export function subscriptionRaceTests(open: SubscriptionOpen, shared: boolean): void {
  async function stores() {
    const opened = await open();
    const replicas: [SubscriptionStore, SubscriptionStore] = [opened.store, shared ? await opened.reopen() : opened.store];
    return { replicas, clock: opened.clock };
  }
  const where = shared ? 'split over two replicas' : 'on one instance';

  describe(`races (${shared ? 'two replicas on one namespace' : 'one instance: its backend shares nothing between instances'})`, () => {
    it(`50 concurrent noteAppend of one stream ${where}: exactly one WakeNotice per subscription`, async () => {
      const { replicas } = await stores();
      await replicas[0].put('hook', webhook({ streams: ['orders/1'] }));
      await replicas[1].put('pull', pullWake({ pattern: 'orders/*', streams: [] }));
      // Replicas report tails out of order.
      const order = Array.from({ length: 50 }, (_, i) => ((i * 17) % 50) + 1);
      const results = await raceOnReplicas(replicas, 50, (s, i) => s.noteAppend('orders/1', off(order[i]!)));
      expect(rejectedCodes(results)).toEqual([]);
      const notices = fulfilled(results).flat();
      expect(notices.map((n) => n.subscription.id).sort()).toEqual(['hook', 'pull']);
      for (const id of ['hook', 'pull']) {
        const sub = await mustGet(replicas[1], id);
        expect(sub.generation, id).toBe(1);
        expect(sub.wake?.id, id).toBe(notices.find((n) => n.subscription.id === id)!.wake.id);
        expect((await linkIn(replicas[0], id, 'orders/1'))?.tailOffset, id).toBe(off(50));
      }
    });

    it(`20 concurrent claims by different workers ${where}: one Claim, 19 ALREADY_CLAIMED naming the winner`, async () => {
      const { replicas } = await stores();
      await replicas[0].put('pull', pullWake());
      only(await replicas[1].noteAppend('jobs/1', off(3)));
      const results = await raceOnReplicas(replicas, 20, (s, i) => s.claim('pull', `worker-${i}`));
      expect(rejectedCodes(results)).toEqual([]);
      const answers = fulfilled(results);
      const claims = answers.filter((a): a is Claim => !isRefused(a));
      expect(claims).toHaveLength(1);
      const winner = `worker-${answers.indexOf(claims[0]!)}`;
      expect(claims[0]!.wake).toMatchObject({ holder: winner, generation: 1 });
      const refused = answers.filter(isRefused);
      expect(refused).toHaveLength(19);
      for (const r of refused) expect(r).toEqual({ refused: 'ALREADY_CLAIMED', holder: winner, generation: 1 });
      expect((await mustGet(replicas[1], 'pull')).wake?.holder).toBe(winner);
      expect(await replicas[1].ack('pull', claimProof(claims[0]!), [{ stream: 'jobs/1', offset: off(3) }], true)).toEqual({ ok: true });
    });

    it(`an ack racing a delete (and an append) ${where}: the subscription stays deleted`, async () => {
      const { replicas } = await stores();
      for (let round = 0; round < 20; round++) {
        const id = `pull-${round}`;
        const claim = await claimedWake(replicas[0], id, 'worker-1', 2);
        const proof = claimProof(claim);
        // Each order of starting them, on each replica.
        const calls = [
          () => replicas[round % 2]!.ack(id, proof, [{ stream: 'jobs/1', offset: off(2) }], false),
          () => replicas[(round + 1) % 2]!.delete(id),
          () => replicas[round % 2]!.noteAppend('jobs/1', off(3)),
        ] as const;
        const order = [
          [0, 1, 2],
          [1, 0, 2],
          [2, 1, 0],
          [1, 2, 0],
        ][round % 4]!;
        const started: Promise<unknown>[] = [];
        for (const i of order) started[i] = calls[i]!();
        const [ack, deleted, appended] = (await Promise.allSettled(started)) as [
          PromiseSettledResult<AckResult | Refused>,
          PromiseSettledResult<boolean>,
          PromiseSettledResult<unknown>,
        ];
        expect(deleted).toEqual({ status: 'fulfilled', value: true });
        expect(ack.status, `round ${round}: ack`).toBe('fulfilled');
        expect(appended.status, `round ${round}: noteAppend`).toBe('fulfilled');
        const answer = (ack as PromiseFulfilledResult<AckResult | Refused>).value;
        expect([{ ok: true }, { refused: 'SUBSCRIPTION_NOT_FOUND' }], `round ${round}`).toContainEqual(answer);
        for (const s of replicas) expect(await s.get(id), `round ${round}`).toBeUndefined();
        expect(await replicas[0].ack(id, proof, [], true)).toEqual({ refused: 'SUBSCRIPTION_NOT_FOUND' });
        expect(await replicas[1].get(id)).toBeUndefined();
      }
    });

    it(`10 takeDue ${where} on one expired lease: exactly one notice, generation + 1`, async () => {
      const { replicas, clock } = await stores();
      const claim = await claimedWake(replicas[0], 'pull', 'worker-1', 2);
      clock.advance(LEASE);
      const results = await raceOnReplicas(replicas, 10, (s) => s.takeDue({ limit: 10 }));
      expect(rejectedCodes(results)).toEqual([]);
      const notices = fulfilled(results).flat();
      expect(notices).toHaveLength(1);
      expect(notices[0]!.wake.generation).toBe(claim.wake.generation + 1);
      expect((await mustGet(replicas[1], 'pull')).generation).toBe(2);
    });

    it(`10 takeDue ${where} on one due webhook retry: exactly one notice`, async () => {
      const { replicas, clock } = await stores();
      const notice = await webhookWake(replicas[0], 'hook');
      await replicas[1].reportDelivery('hook', notice.wake.id, 'failed');
      clock.set((await mustGet(replicas[0], 'hook')).delivery!.nextAttemptAt);
      const results = await raceOnReplicas(replicas, 10, (s) => s.takeDue({ limit: 10 }));
      expect(rejectedCodes(results)).toEqual([]);
      const notices = fulfilled(results).flat();
      expect(notices).toHaveLength(1);
      expect(notices[0]!.wake.id).toBe(notice.wake.id);
    });

    it(`20 concurrent puts of one id ${where}: one created, the rest confirm`, async () => {
      const { replicas } = await stores();
      const results = await raceOnReplicas(replicas, 20, (s) => s.put('sub', webhook()));
      expect(rejectedCodes(results)).toEqual([]);
      const statuses = fulfilled(results).map((r) => r.status);
      expect(statuses.filter((s) => s === 'created')).toHaveLength(1);
      expect(statuses.filter((s) => s === 'exists')).toHaveLength(19);
      expect(only(await replicas[1].noteAppend('orders/1', off(1))).subscription.id).toBe('sub');
    });

    it(`20 putSigningKeys with the same ifVersion ${where}: exactly one is true`, async () => {
      const { replicas } = await stores();
      const results = await raceOnReplicas(replicas, 20, (s, i) => s.putSigningKeys([signingKey(`ds_${i}`)], 0));
      expect(rejectedCodes(results)).toEqual([]);
      const answers = fulfilled(results);
      expect(answers.filter(Boolean)).toHaveLength(1);
      expect((await replicas[1].signingKeys()).keys).toEqual([signingKey(`ds_${answers.indexOf(true)}`)]);
    });
  });
}
