// One mutant (or a known gap, or the control) alone, chosen by STOWAGE_MUTANT, run by hand:
// STOWAGE_MUTANT=<name> npx vitest run --config test/mutants/vitest.config.ts (in packages/stores-memory).
import { KNOWN_GAPS } from './known-gaps.js';
import { MUTANTS } from './mutants.js';
import { describeMutant } from './shards.js';

const id = process.env['STOWAGE_MUTANT'] ?? '';
const mutant = MUTANTS[id] ?? KNOWN_GAPS[id];
if (id !== 'control' && mutant === undefined) throw new Error(`unknown STOWAGE_MUTANT ${JSON.stringify(id)}`);
describeMutant(id, mutant);
