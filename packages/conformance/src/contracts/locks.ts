import type { Lease, LockStore } from '@stowage/core';
import { describe, expect, it } from 'vitest';
import { opener, type ConformanceOptions, type StoreFactory } from '../context.js';
import { BAD_DURATIONS, BAD_KEYS, expectCode, fulfilled, ODD_KEYS, race, sleep } from '../helpers.js';

const TTL = 30_000;

export function lockTests(factory: StoreFactory<LockStore>, options: ConformanceOptions): void {
  const open = opener(factory, options);

  describe('acquire, extend, release', () => {
    it('acquire gives a token, a positive integer fence and expiresAt = now + ttlMs', async () => {
      const { store, clock } = await open();
      const lease = await store.acquire('job', { ttlMs: TTL });
      expect(lease).toBeDefined();
      expect(typeof lease!.token).toBe('string');
      expect(lease!.token.length).toBeGreaterThanOrEqual(22);
      expect(Number.isInteger(lease!.fence) && lease!.fence >= 1).toBe(true);
      expect(lease!.expiresAt).toBe(clock.now() + TTL);
    });

    it('a held lock cannot be acquired', async () => {
      const { store } = await open();
      await store.acquire('job', { ttlMs: TTL });
      expect(await store.acquire('job', { ttlMs: TTL })).toBeUndefined();
    });

    it('release frees the lock; the next lease has a higher fence and another token', async () => {
      const { store } = await open();
      const a = (await store.acquire('job', { ttlMs: TTL }))!;
      expect(await store.release('job', a.token)).toBe(true);
      const b = (await store.acquire('job', { ttlMs: TTL }))!;
      expect(b.fence).toBeGreaterThan(a.fence);
      expect(b.token).not.toBe(a.token);
    });

    it('release with a wrong or old token is false and keeps the holder', async () => {
      const { store } = await open();
      const a = (await store.acquire('job', { ttlMs: TTL }))!;
      expect(await store.release('job', 'wrong')).toBe(false);
      expect(await store.acquire('job', { ttlMs: TTL })).toBeUndefined();
      await store.release('job', a.token);
      expect(await store.release('job', a.token)).toBe(false);
      const b = (await store.acquire('job', { ttlMs: TTL }))!;
      expect(await store.release('job', a.token)).toBe(false);
      expect(await store.release('job', b.token)).toBe(true);
    });

    it('extend moves the end of the lease', async () => {
      const { store, clock } = await open();
      const a = (await store.acquire('job', { ttlMs: 1000 }))!;
      clock.advance(900);
      expect(await store.extend('job', a.token, 5000)).toBe(true);
      clock.advance(4999);
      expect(await store.acquire('job', { ttlMs: TTL })).toBeUndefined();
      clock.advance(1);
      expect(await store.acquire('job', { ttlMs: TTL })).toBeDefined();
    });

    it('extend with a wrong token, of a free lock or after expiry is false', async () => {
      const { store, clock } = await open();
      expect(await store.extend('free', 'tok', TTL)).toBe(false);
      const a = (await store.acquire('job', { ttlMs: 1000 }))!;
      expect(await store.extend('job', 'wrong', TTL)).toBe(false);
      clock.advance(1000);
      expect(await store.extend('job', a.token, TTL)).toBe(false);
      expect(await store.release('job', a.token)).toBe(false);
    });
  });

  describe('expiry and fencing', () => {
    it('a lease is held 1 ms before expiresAt and free at it; the old token is then fenced off', async () => {
      const { store, clock } = await open();
      const a = (await store.acquire('job', { ttlMs: 5000 }))!;
      clock.advance(4999);
      expect(await store.acquire('job', { ttlMs: TTL })).toBeUndefined();
      clock.advance(1);
      const b = (await store.acquire('job', { ttlMs: TTL }))!;
      expect(b.fence).toBeGreaterThan(a.fence);
      expect(await store.extend('job', a.token, TTL)).toBe(false);
      expect(await store.release('job', a.token)).toBe(false);
      expect(await store.acquire('job', { ttlMs: TTL })).toBeUndefined();
    });

    it('fences strictly increase across 30 acquires ended by release and by expiry', async () => {
      const { store, clock } = await open();
      let last = 0;
      for (let i = 0; i < 30; i++) {
        const lease = (await store.acquire('job', { ttlMs: 1000 }))!;
        expect(lease.fence).toBeGreaterThan(last);
        last = lease.fence;
        if (i % 2 === 0) await store.release('job', lease.token);
        else clock.advance(1000);
      }
    });

    it('fences keep increasing after the store has had time to forget the lease', async () => {
      const { store, clock } = await open();
      const a = (await store.acquire('job', { ttlMs: 1000 }))!;
      await store.release('job', a.token);
      clock.advance(30 * 86_400_000);
      await store.prune();
      const b = (await store.acquire('job', { ttlMs: 1000 }))!;
      expect(b.fence).toBeGreaterThan(a.fence);
    });

    it('names are independent and odd names never collide', async () => {
      const { store } = await open();
      for (const name of ODD_KEYS) expect(await store.acquire(name, { ttlMs: TTL }), name.slice(0, 20)).toBeDefined();
      for (const name of ODD_KEYS) expect(await store.acquire(name, { ttlMs: TTL })).toBeUndefined();
    });

    it('leases end in real time on the store clock', async () => {
      const { store } = await open('real-time');
      const a = (await store.acquire('rt', { ttlMs: 1000 }))!;
      expect(Math.abs(a.expiresAt - (Date.now() + 1000))).toBeLessThan(5000);
      expect(await store.acquire('rt', { ttlMs: 1000 })).toBeUndefined();
      await sleep(1400);
      const b = await store.acquire('rt', { ttlMs: 1000 });
      expect(b!.fence).toBeGreaterThan(a.fence);
    });
  });

  describe('concurrency', () => {
    it('50 parallel acquires: exactly one lease', async () => {
      const { store } = await open();
      const leases = fulfilled(await race(50, () => store.acquire('hot', { ttlMs: TTL }))).filter(Boolean) as Lease[];
      expect(leases).toHaveLength(1);
    });

    it('50 parallel acquires after an expiry: exactly one, with a higher fence', async () => {
      const { store, clock } = await open();
      const first = (await store.acquire('hot', { ttlMs: 1000 }))!;
      clock.advance(1000);
      const leases = fulfilled(await race(50, () => store.acquire('hot', { ttlMs: TTL }))).filter(Boolean) as Lease[];
      expect(leases).toHaveLength(1);
      expect(leases[0]!.fence).toBeGreaterThan(first.fence);
    });

    it('20 rounds of 10 racing acquirers: one winner each round, distinct increasing fences', async () => {
      const { store } = await open();
      const fences: number[] = [];
      for (let round = 0; round < 20; round++) {
        const winners = fulfilled(await race(10, () => store.acquire('hot', { ttlMs: TTL }))).filter(Boolean) as Lease[];
        expect(winners).toHaveLength(1);
        fences.push(winners[0]!.fence);
        await store.release('hot', winners[0]!.token);
      }
      expect([...fences].sort((a, b) => a - b)).toEqual(fences);
      expect(new Set(fences).size).toBe(20);
    });
  });

  describe('bad input is INVALID_ARGUMENT', () => {
    for (const [label, name] of BAD_KEYS) {
      it(`name as ${label}`, async () => {
        const { store } = await open();
        await expectCode(store.acquire(name as string, { ttlMs: TTL }), 'INVALID_ARGUMENT');
        await expectCode(store.extend(name as string, 't', TTL), 'INVALID_ARGUMENT');
        await expectCode(store.release(name as string, 't'), 'INVALID_ARGUMENT');
      });
    }
    for (const [label, ttl] of BAD_DURATIONS) {
      it(`ttlMs as ${label}`, async () => {
        const { store } = await open();
        await expectCode(store.acquire('job', { ttlMs: ttl as number }), 'INVALID_ARGUMENT');
        const lease = (await store.acquire('job', { ttlMs: TTL }))!;
        await expectCode(store.extend('job', lease.token, ttl as number), 'INVALID_ARGUMENT');
        expect(await store.release('job', lease.token)).toBe(true);
      });
    }
    it('a token that is not a string, and malformed options', async () => {
      const { store } = await open();
      for (const bad of [undefined, null, 7, {}]) {
        await expectCode(store.extend('job', bad as string, TTL), 'INVALID_ARGUMENT');
        await expectCode(store.release('job', bad as string), 'INVALID_ARGUMENT');
      }
      await expectCode(store.acquire('job', undefined as never), 'INVALID_ARGUMENT');
      expect(await store.acquire('job', { ttlMs: TTL })).toBeDefined();
    });
  });
}
