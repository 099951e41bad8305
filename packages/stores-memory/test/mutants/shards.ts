import { describeConformance } from '@stowage/conformance';
import { CONTROL, MUTANTS } from './mutants.js';
import { SHARDS } from './shard-count.js';
import type { Mutant } from './wrap.js';

/**
 * The conformance suite for one mutant, or for the control without one: only the contract the
 * mutant changes, named `mutant <id>` so that every test's full name says whose test it is.
 */
export function describeMutant(id: string, mutant: Mutant | undefined): void {
  // Memory stores share nothing between instances; a mutant over a shared backend says so.
  describeConformance({ name: `mutant ${id}`, sharedNamespace: mutant?.shared ?? false, ...(mutant?.factories ?? CONTROL) });
}

/** The control, then the mutants: shard k takes every one whose index % SHARDS is k. */
export const IDS: readonly string[] = ['control', ...Object.keys(MUTANTS)];

export function registerShard(k: number): void {
  if (!Number.isInteger(k) || k < 0 || k >= SHARDS) throw new Error(`no shard ${k} of ${SHARDS}`);
  for (const [i, id] of IDS.entries()) {
    if (i % SHARDS === k) describeMutant(id, id === 'control' ? undefined : MUTANTS[id]);
  }
}
