import type { CsrfTokenStore, IdempotencyStore, JwksCacheStore, Lease, LockStore, SessionStore } from '@stowage/core';
import { describe, expect, it } from 'vitest';
import { opener, type ConformanceOptions, type StoreFactory } from '../context.js';
import { bytes, fulfilled, rejectedCodes, text } from '../helpers.js';
import { raceOnReplicas, twoReplicas } from '../replicas.js';
import { FP, KEEP, LEASE, response, token } from './idempotency/fixtures.js';

// Each race splits its callers across two instances opened on one namespace, as two replicas
// of an application are: an adapter that serialises per instance (a mutex in the object, a
// cache of versions) passes the one-instance races and fails these. Registered only for
// backends whose instances share records (`sharedNamespace`).

const MIN = 60_000;
const HOUR = 3_600_000;

export function sessionReplicaTests(factory: StoreFactory<SessionStore>, options: ConformanceOptions): void {
  const open = opener(factory, options);
  describe('replicas (two instances on one namespace)', () => {
    it('100 sets with the same ifVersion split over two replicas: exactly one succeeds', async () => {
      const replicas = await twoReplicas(await open());
      await replicas[0].set('race', bytes('start'), { ttlMs: MIN });
      const results = await raceOnReplicas(replicas, 100, (s, i) => s.set('race', bytes(`w${i}`), { ttlMs: MIN, ifVersion: 1 }));
      expect(fulfilled(results)).toEqual([{ version: 2 }]);
      expect(rejectedCodes(results)).toEqual(Array(99).fill('CONFLICT'));
      const winner = results.findIndex((r) => r.status === 'fulfilled');
      expect(text((await replicas[1].get('race'))!.data)).toBe(`w${winner}`);
    });

    it('100 unconditional sets split over two replicas: versions 2..101 each given once', async () => {
      const replicas = await twoReplicas(await open());
      await replicas[0].set('seq', bytes('0'), { ttlMs: MIN });
      const results = fulfilled(await raceOnReplicas(replicas, 100, (s, i) => s.set('seq', bytes(String(i)), { ttlMs: MIN })));
      expect(results.map((r) => r.version).sort((a, b) => a - b)).toEqual(Array.from({ length: 100 }, (_, i) => i + 2));
      expect((await replicas[1].get('seq'))!.version).toBe(101);
    });
  });
}

export function idempotencyReplicaTests(factory: StoreFactory<IdempotencyStore>, options: ConformanceOptions): void {
  const open = opener(factory, options);
  describe('replicas (two instances on one namespace)', () => {
    it('200 reserves split over two replicas: exactly one reserved, 199 in flight', async () => {
      const replicas = await twoReplicas(await open());
      const results = fulfilled(await raceOnReplicas(replicas, 200, (s) => s.reserve('s', 'hot', FP, { leaseMs: LEASE })));
      expect(results).toHaveLength(200);
      expect(results.filter((r) => r.state === 'reserved')).toHaveLength(1);
      expect(results.filter((r) => r.state === 'in-flight')).toHaveLength(199);
    });

    it('50 completes with the valid token split over two replicas: exactly one is true', async () => {
      const replicas = await twoReplicas(await open());
      const t = token(await replicas[0].reserve('s', 'k', FP, { leaseMs: LEASE }));
      const results = fulfilled(
        await raceOnReplicas(replicas, 50, (s, i) => s.complete('s', 'k', t, response(`r${i}`), { retentionMs: KEEP })),
      );
      expect(results.filter(Boolean)).toHaveLength(1);
      const replay = await replicas[1].reserve('s', 'k', FP, { leaseMs: LEASE });
      expect(replay.state).toBe('completed');
      expect(text((replay as { response: { body: Uint8Array } }).response.body)).toBe(`r${results.indexOf(true)}`);
    });
  });
}

export function csrfReplicaTests(factory: StoreFactory<CsrfTokenStore>, options: ConformanceOptions): void {
  const open = opener(factory, options);
  describe('replicas (two instances on one namespace)', () => {
    it('100 consuming validates of one token split over two replicas: exactly one is true', async () => {
      const replicas = await twoReplicas(await open());
      const t = await replicas[0].issue('sess', { ttlMs: HOUR });
      const results = fulfilled(await raceOnReplicas(replicas, 100, (s) => s.validate('sess', t, { consume: true })));
      expect(results).toHaveLength(100);
      expect(results.filter(Boolean)).toHaveLength(1);
    });
  });
}

export function lockReplicaTests(factory: StoreFactory<LockStore>, options: ConformanceOptions): void {
  const open = opener(factory, options);
  describe('replicas (two instances on one namespace)', () => {
    it('100 acquires split over two replicas: exactly one lease', async () => {
      const replicas = await twoReplicas(await open());
      const leases = fulfilled(await raceOnReplicas(replicas, 100, (s) => s.acquire('hot', { ttlMs: MIN })));
      expect(leases.filter(Boolean)).toHaveLength(1);
    });

    it('10 rounds of 10 acquirers split over two replicas: one winner a round, fences increasing', async () => {
      const replicas = await twoReplicas(await open());
      const fences: number[] = [];
      for (let round = 0; round < 10; round++) {
        const winners = fulfilled(await raceOnReplicas(replicas, 10, (s) => s.acquire('hot', { ttlMs: MIN }))).filter(Boolean) as Lease[];
        expect(winners).toHaveLength(1);
        fences.push(winners[0]!.fence);
        // The other replica releases: the lease is the namespace's, not the instance's.
        expect(await replicas[round % 2]!.release('hot', winners[0]!.token)).toBe(true);
      }
      expect(new Set(fences).size).toBe(10);
      expect([...fences].sort((a, b) => a - b)).toEqual(fences);
    });
  });
}

export function jwksReplicaTests(factory: StoreFactory<JwksCacheStore>, options: ConformanceOptions): void {
  const open = opener(factory, options);
  describe('replicas (two instances on one namespace)', () => {
    it('50 puts split over two replicas: the newest fetch wins, whatever the order', async () => {
      const replicas = await twoReplicas(await open());
      const uri = 'https://issuer.example/jwks';
      const doc = (kid: string) => JSON.stringify({ keys: [{ kid }] });
      const order = Array.from({ length: 50 }, (_, i) => (i * 17) % 50);
      const results = fulfilled(
        await raceOnReplicas(replicas, 50, (s, i) => s.put(uri, doc(`f${order[i]}`), { fetchedAt: 1000 + order[i]!, ttlMs: HOUR })),
      );
      expect(results).toHaveLength(50);
      expect(results[order.indexOf(49)]).toBe(true);
      for (const s of replicas) expect(await s.get(uri)).toMatchObject({ jwks: doc('f49'), fetchedAt: 1049 });
    });
  });
}
