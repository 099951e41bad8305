// Run by mutants.test.ts in a child vitest: the conformance suite for one mutant (or the
// control), chosen by STOWAGE_MUTANT, registering only the contract that mutant changes.
import { describeConformance } from '@stowage/conformance';
import { KNOWN_GAPS } from './known-gaps.js';
import { CONTROL, MUTANTS } from './mutants.js';

const id = process.env['STOWAGE_MUTANT'] ?? '';
const mutant = MUTANTS[id] ?? KNOWN_GAPS[id];
const factories = id === 'control' ? CONTROL : mutant?.factories;
if (factories === undefined) throw new Error(`unknown STOWAGE_MUTANT ${JSON.stringify(id)}`);

// Memory stores share nothing between instances; a mutant over a shared backend says so.
describeConformance({ name: `mutant ${id}`, sharedNamespace: mutant?.shared ?? false, ...factories });
