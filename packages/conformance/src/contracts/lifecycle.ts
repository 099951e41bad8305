import type { Closeable, HealthResult, Healthy } from '@stowage/core';
import { describe, expect, it } from 'vitest';
import { opener, type ConformanceOptions, type StoreFactory } from '../context.js';
import { expectCode, sleep } from '../helpers.js';

/** One cheap call per contract, used to check a store before and after close. */
export type Probe<T> = (store: T) => Promise<unknown>;

const refTimers = (): number => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;

export function lifecycleTests<T extends Closeable>(factory: StoreFactory<T>, options: ConformanceOptions, probe: Probe<T>): void {
  const open = opener(factory, options);

  describe('lifecycle', () => {
    it('after close, every call rejects with UNAVAILABLE', async () => {
      const { store } = await open();
      await probe(store);
      await store.close();
      await expectCode(probe(store), 'UNAVAILABLE');
    });

    it('close is idempotent and concurrent closes all resolve', async () => {
      const { store } = await open();
      await probe(store);
      await Promise.all([store.close(), store.close(), store.close()]);
      await store.close();
    });

    it('health() answers ok with a latency, refuses a bad timeout, and is not ok once closed', async () => {
      const { store } = await open();
      const healthy = store as Partial<Healthy>;
      if (typeof healthy.health !== 'function') {
        // Optional for adapters; a suite run with `health: true` requires it.
        if (options.health === true) expect.fail('the store has no health() method');
        return;
      }
      const check = (opts?: unknown): Promise<HealthResult> => (healthy as Healthy).health(opts as never);
      const up = await check();
      expect(up).toEqual({ ok: true, latencyMs: expect.any(Number) });
      expect(Number.isFinite(up.latencyMs) && up.latencyMs >= 0).toBe(true);
      expect((await check({ timeoutMs: 1000 })).ok).toBe(true);
      const bad = await check({ timeoutMs: 0 });
      expect(bad).toEqual({ ok: false, latencyMs: expect.any(Number), error: expect.stringContaining('timeoutMs') });
      await store.close();
      const down = await check();
      expect(down).toEqual({ ok: false, latencyMs: expect.any(Number), error: 'the store is closed' });
    });

    it('leaves no timer that keeps the process alive', async () => {
      // Warm up first: a user's client (pool, connection) may keep timers of its own.
      const warm = await open();
      await probe(warm.store);
      await warm.store.close();
      await sleep(20);
      const baseline = refTimers();
      const { store } = await open();
      for (let i = 0; i < 5; i++) await probe(store);
      await store.close();
      await sleep(20);
      expect(refTimers()).toBeLessThanOrEqual(baseline);
    });
  });
}
