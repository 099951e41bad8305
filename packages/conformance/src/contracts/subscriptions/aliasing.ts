import type { Subscription, SubscriptionLink, Wake } from '@stowage/core';
import { describe, expect, it } from 'vitest';
import { accepted, claimProof, granted, off, only, pullWake, stateOf, type SubscriptionOpen, webhook } from './fixtures.js';
import { signingKey } from './signing-keys.js';

/** Writes over everything a caller could reach in `sub`. */
function scribble(sub: Subscription): void {
  const s = sub as unknown as Record<string, unknown> & { streams: string[]; links: SubscriptionLink[] };
  s.streams.push('scribbled');
  s.streams[0] = 'scribbled';
  for (const l of s.links) {
    (l as { ackedOffset: string }).ackedOffset = 'scribbled';
    (l as { tailOffset: string }).tailOffset = 'scribbled';
  }
  s.links.push({ path: 'scribbled', linkType: 'glob', ackedOffset: '-1', tailOffset: '-1', hasPending: false });
  if (sub.wake) scribbleWake(sub.wake);
  if (sub.delivery) sub.delivery.attempts = 99;
  s.generation = 99;
  s.status = 'failed';
  s.leaseTtlMs = 1;
  s.pattern = 'scribbled/**';
}

function scribbleWake(wake: Wake): void {
  const w = wake as unknown as {
    generation: number;
    holder?: string;
    leaseExpiresAt: number;
    snapshot: { path: string; tailOffset: string }[];
  };
  w.generation = 99;
  w.holder = 'scribbled';
  w.leaseExpiresAt = 0;
  for (const s of w.snapshot) s.tailOffset = 'scribbled';
  w.snapshot.push({ path: 'scribbled', tailOffset: '-1' });
}

export function subscriptionAliasingTests(open: SubscriptionOpen): void {
  describe('returned objects never alias stored state', () => {
    it('the definition given to put, and what put and get return, can be changed freely', async () => {
      const { store } = await open();
      const def = { ...webhook({ pattern: 'orders/*', streams: ['orders/1', 'orders/2'] }) };
      const streams = def.streams as string[];
      const created = await store.put('sub', def);
      streams.push('orders/3');
      streams[0] = 'other/1';
      (def as { leaseTtlMs: number }).leaseTtlMs = 1;
      const before = await stateOf(store, 'sub');
      scribble(created.subscription);
      scribble((await store.get('sub'))!);
      expect(await stateOf(store, 'sub')).toEqual(before);
      const confirmed = await store.put('sub', webhook({ pattern: 'orders/*', streams: ['orders/1', 'orders/2'] }));
      expect(confirmed.status).toBe('exists');
      scribble(confirmed.subscription);
      const conflict = await store.put('sub', webhook());
      expect(conflict.status).toBe('conflict');
      scribble(conflict.subscription);
      expect(await stateOf(store, 'sub')).toEqual(before);
    });

    it('wake notices, claims and ack results are copies', async () => {
      const { store } = await open();
      await store.put('pull', pullWake());
      const notice = only(await store.noteAppend('jobs/1', off(2)));
      let before = await stateOf(store, 'pull');
      scribble(notice.subscription);
      scribbleWake(notice.wake);
      expect(await stateOf(store, 'pull')).toEqual(before);
      const claim = granted(await store.claim('pull', 'worker-1'));
      const proof = claimProof(claim);
      before = await stateOf(store, 'pull');
      scribbleWake(claim.wake);
      for (const l of claim.links) (l as { ackedOffset: string }).ackedOffset = 'scribbled';
      (claim.links as SubscriptionLink[]).push({ path: 'x', linkType: 'glob', ackedOffset: '-1', tailOffset: '-1', hasPending: false });
      expect(await stateOf(store, 'pull')).toEqual(before);
      expect(await store.noteAppend('jobs/1', off(3))).toEqual([]);
      const acks = [{ stream: 'jobs/1', offset: off(2) }];
      const done = accepted(await store.ack('pull', proof, acks, true));
      acks[0]!.offset = off(1);
      expect(done.next).toBeDefined();
      before = await stateOf(store, 'pull');
      scribble(done.next!.subscription);
      scribbleWake(done.next!.wake);
      expect(await stateOf(store, 'pull')).toEqual(before);
      expect((await store.get('pull'))!.links[0]!.ackedOffset).toBe(off(2));
    });

    it('streams given to addStreams and keys given to or read from the signing keys can be changed freely', async () => {
      const { store } = await open();
      await store.put('sub', webhook());
      const streams = ['orders/2'];
      await store.addStreams('sub', streams);
      streams[0] = 'orders/9';
      expect((await store.get('sub'))!.links.map((l) => l.path).sort()).toEqual(['orders/1', 'orders/2']);
      const keys = [signingKey('ds_1')];
      await store.putSigningKeys(keys, 0);
      keys[0]!.kid = 'scribbled';
      keys.push(signingKey('ds_2'));
      const read = await store.signingKeys();
      expect(read.keys).toEqual([signingKey('ds_1')]);
      read.keys[0]!.kid = 'scribbled';
      read.keys.push(signingKey('ds_3'));
      expect((await store.signingKeys()).keys).toEqual([signingKey('ds_1')]);
    });
  });
}
