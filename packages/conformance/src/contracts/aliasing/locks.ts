import type { Lease, LockStore } from '@stowage/core';
import { describe, expect, it } from 'vitest';
import { argumentMutations, callText, later, type Mutation, mutationsOf } from '../../aliasing.js';
import type { TestClock } from '../../clock.js';
import { type ConformanceOptions, opener, type StoreFactory } from '../../context.js';

const TTL = 30_000;

/** A lease the test holds: its name, the lease as acquire answered it, and what the caller changed. */
interface Held {
  name: string;
  lease: Lease;
  said: string;
}

/**
 * A lease ends at its `expiresAt` as answered, whatever the caller changed since: held 1 ms
 * before (the token acquire answered still extends it), free at it, with a higher fence.
 */
async function expectHeldUntilExpiry(store: LockStore, clock: TestClock, held: readonly Held[]): Promise<void> {
  clock.advance(TTL - 1);
  for (const { name, lease, said } of held) {
    const at = `${said}; 1 ms before the lease's expiresAt ${lease.expiresAt}`;
    expect(await store.acquire(name, { ttlMs: TTL }), `${at}, acquire('${name}') must find it held`).toBeUndefined();
    expect(await store.extend(name, lease.token, 1), `${at}, extend('${name}', the token acquire answered, 1) must be true`).toBe(true);
  }
  clock.advance(1);
  for (const { name, lease, said } of held) {
    const next = await store.acquire(name, { ttlMs: TTL });
    const at = `${said}; at the lease's expiresAt ${lease.expiresAt}, acquire('${name}')`;
    expect(next, `${at} must get a new lease`).toBeDefined();
    expect(next!.fence, `${at}: lease.fence must be above the old ${lease.fence}`).toBeGreaterThan(lease.fence);
  }
}

/** LockStore: a lease answered is the caller's own; options given are read during the call only. */
export function lockAliasingTests(factory: StoreFactory<LockStore>, options: ConformanceOptions): void {
  const open = opener(factory, options);

  describe('callers share no objects with the store', () => {
    it('acquire: changing the returned lease changes nothing stored', async () => {
      const { store, clock } = await open();
      const mutations: Mutation[] = mutationsOf(await store.acquire('sample', { ttlMs: TTL }), 'lease');
      expect(mutations.length, 'LockStore.acquire: fields of a lease').toBeGreaterThan(0);
      const held: Held[] = [];
      for (const [i, m] of mutations.entries()) {
        const name = `lease-${i}`;
        const call = callText('LockStore', 'acquire', name, { ttlMs: TTL });
        const answer = await store.acquire(name, { ttlMs: TTL });
        expect(answer, `${call} on a free name`).toBeDefined();
        const lease = { ...answer! };
        m.apply(answer);
        const said = `${call} answered a lease; the caller then ${m.change}`;
        expect(await store.acquire(name, { ttlMs: TTL }), `${said}; then acquire('${name}') must find it held`).toBeUndefined();
        const changed = answer!.token as unknown;
        if (typeof changed === 'string' && changed !== lease.token) {
          expect(await store.extend(name, changed, TTL), `${said}; then extend('${name}', the changed token) must be false`).toBe(false);
          expect(await store.release(name, changed), `${said}; then release('${name}', the changed token) must be false`).toBe(false);
        }
        held.push({ name, lease, said });
      }
      await expectHeldUntilExpiry(store, clock, held);
    });

    it('acquire: changing opts after the call changes nothing stored', async () => {
      const { store, clock } = await open();
      const held: Held[] = [];
      for (const [i, m] of argumentMutations({ opts: { ttlMs: TTL, deadline: later() } }).entries()) {
        const name = `opts-${i}`;
        const opts = { ttlMs: TTL, deadline: later() };
        const call = callText('LockStore', 'acquire', name, opts);
        const lease = await store.acquire(name, opts);
        expect(lease, `${call} on a free name`).toBeDefined();
        m.apply({ opts });
        const said = `${call} resolved; the caller then ${m.change}`;
        expect(await store.acquire(name, { ttlMs: TTL }), `${said}; then acquire('${name}') must find it held`).toBeUndefined();
        held.push({ name, lease: lease!, said });
      }
      await expectHeldUntilExpiry(store, clock, held);
    });
  });
}
