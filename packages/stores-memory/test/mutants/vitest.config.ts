import { defineConfig } from 'vitest/config';
import { SHARDS } from './shard-count.js';

// The child run of mutants.test.ts, the control and every mutant in the shard files; with
// STOWAGE_MUTANT=<name>, that one alone (suite.fixture.ts). Not a project of the root config
// (its glob takes packages/*/vitest.config.ts only).
export default defineConfig({
  test: {
    root: `${import.meta.dirname}/../..`,
    include: process.env['STOWAGE_MUTANT'] === undefined ? ['test/mutants/shard-*.fixture.ts'] : ['test/mutants/suite.fixture.ts'],
    // The default on a two-core machine is one worker, which would run the shards one after another.
    maxWorkers: SHARDS,
  },
});
