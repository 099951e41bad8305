import { setTimeout as sleep } from 'node:timers/promises';
import type { RateLimitStore } from '@stowage/core';
import { freshNamespace, type StoreBackend, type StoreSet } from './index.js';

/** Two rate-limit stores over one namespace, as two replicas of a service have. */
export interface RateLimitReplicas {
  /** Two stores over one namespace (memory: one store, shared by both apps of this process). */
  stores: [RateLimitStore, RateLimitStore];
  sets: StoreSet[];
  close(): Promise<void>;
}

/** Two connections to one fresh namespace of `backend`, as two replicas of a service have. */
export async function openRateLimitReplicas(backend: StoreBackend): Promise<RateLimitReplicas> {
  const ns = freshNamespace();
  if (backend.kind === 'memory') {
    const set = await backend.open(ns);
    const store = set.rateLimits();
    return { stores: [store, store], sets: [set], close: () => set.close() };
  }
  const sets = [await backend.open(ns), await backend.open(ns)];
  return {
    stores: [sets[0]!.rateLimits(), sets[1]!.rateLimits()],
    sets,
    close: async () => {
      for (const set of sets) await set.close();
    },
  };
}

/**
 * Sleeps until `offsetMs` into the next fixed window of `windowMs` (windows start at
 * multiples of `windowMs` since the epoch, on the backend's clock: this machine's) and
 * returns when that window ends.
 */
export async function nextWindow(windowMs: number, offsetMs = 20): Promise<number> {
  const start = (Math.floor(Date.now() / windowMs) + 1) * windowMs;
  await sleep(start + offsetMs - Date.now());
  return start + windowMs;
}

/**
 * Makes sure at least `needMs` are left in the current fixed window of `windowMs` (sleeping
 * into the next one otherwise), so a test's hits all land in one window.
 */
export async function roomInWindow(windowMs: number, needMs: number): Promise<void> {
  const left = windowMs - (Date.now() % windowMs);
  if (left < needMs) await sleep(left + 20);
}
