import type { Closeable } from '@stowage/core';
import type { ConformanceOptions, Opened } from './context.js';
import { race } from './helpers.js';

/**
 * Whether the suite registers its replica races: two instances on one namespace share
 * records unless the backend says otherwise (`sharedNamespace: false`).
 */
export const racesReplicas = (options: ConformanceOptions): boolean => options.sharedNamespace !== false;

/** The store and a second instance on its namespace and clock: two replicas of one application. */
export async function twoReplicas<T extends Closeable>(opened: Opened<T> | Omit<Opened<T>, 'clock'>): Promise<[T, T]> {
  return [opened.store, await opened.reopen()];
}

/**
 * Runs `fn` n times at once, call `i` on replica `i % 2`: a lock or cache held per instance
 * lets the two halves interleave and shows in the counts.
 */
export function raceOnReplicas<T, R>(replicas: readonly [T, T], n: number, fn: (store: T, i: number) => Promise<R>) {
  return race(n, (i) => fn(replicas[i % 2]!, i));
}
