/**
 * How many fixture files (shard-<k>.fixture.ts, k < SHARDS) the child run of mutants.test.ts
 * spreads the control and the mutants over, and how many workers run them side by side: most of
 * a mutant's time is the suite's real-time waits, which overlap across workers.
 */
export const SHARDS = 3;
