import type { Closeable, CsrfTokenStore, LockStore, Prunable } from '@stowage/core';
import { describe, expect, it } from 'vitest';
import { opener, type ConformanceOptions, type StoreFactory } from '../context.js';
import { expectCode } from '../helpers.js';

const HOUR = 3_600_000;

/** `prune` against N expired and M live records: exactly N, or at most N where the backend expires records itself. */
function expectPruned(options: ConformanceOptions, removed: number, expired: number): void {
  if (options.nativeExpiry) {
    expect(removed).toBeGreaterThanOrEqual(0);
    expect(removed).toBeLessThanOrEqual(expired);
  } else {
    expect(removed).toBe(expired);
  }
}

/** Lock `prune` counts leases that ran out unreleased, one per name (a release forgets its lease at once). */
export function lockPruneTests(factory: StoreFactory<LockStore>, options: ConformanceOptions): void {
  const open = opener(factory, options);
  describe('prune', () => {
    it('counts the leases that ran out, not released ones nor live ones, and keeps fences', async () => {
      const { store, clock } = await open();
      for (let i = 0; i < 4; i++) await store.acquire(`ran-out-${i}`, { ttlMs: 1000 });
      for (let i = 0; i < 2; i++) {
        const lease = (await store.acquire(`released-${i}`, { ttlMs: 1000 }))!;
        await store.release(`released-${i}`, lease.token);
      }
      for (let i = 0; i < 3; i++) await store.acquire(`live-${i}`, { ttlMs: HOUR });
      clock.advance(1000);
      expectPruned(options, await store.prune(), 4);
      if (!options.nativeExpiry) expect(await store.prune()).toBe(0);
      for (let i = 0; i < 3; i++) expect(await store.acquire(`live-${i}`, { ttlMs: HOUR })).toBeUndefined();
      for (let i = 0; i < 4; i++) expect((await store.acquire(`ran-out-${i}`, { ttlMs: HOUR }))!.fence).toBe(2);
    });

    it('is 0 on an empty store', async () => {
      const { store } = await open();
      expect(await store.prune()).toBe(0);
    });
  });
}

/** CSRF `prune` counts tokens, also the expired ones of a session that still has live ones. */
export function csrfPruneTests(factory: StoreFactory<CsrfTokenStore>, options: ConformanceOptions): void {
  const open = opener(factory, options);
  describe('prune', () => {
    it('counts expired tokens one by one and keeps the live tokens of the same session', async () => {
      const { store, clock } = await open();
      for (let i = 0; i < 3; i++) await store.issue('both', { ttlMs: 1000 });
      for (let i = 0; i < 2; i++) await store.issue('gone', { ttlMs: 1000 });
      const live = await store.issue('both', { ttlMs: HOUR });
      clock.advance(1000);
      expectPruned(options, await store.prune(), 5);
      expect(await store.validate('both', live)).toBe(true);
      expect(await store.revoke('both')).toBe(1);
    });
  });
}

/** After close, the methods without call options reject with UNAVAILABLE too (`check-order.ts` probes the others). */
export function closedReclaimTests<T extends Closeable>(
  factory: StoreFactory<T>,
  options: ConformanceOptions,
  reclaim: (store: T) => Promise<number>,
  method: string,
): void {
  const open = opener(factory, options);
  it(`${method} after close rejects with UNAVAILABLE`, async () => {
    const { store } = await open();
    await reclaim(store);
    await store.close();
    await expectCode(() => reclaim(store), 'UNAVAILABLE');
  });
}

export const prune = (store: Prunable): Promise<number> => store.prune();
