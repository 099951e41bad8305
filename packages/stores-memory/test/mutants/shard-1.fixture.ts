// Run by mutants.test.ts in its child vitest (see shards.ts).
import { registerShard } from './shards.js';

registerShard(1);
