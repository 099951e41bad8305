import type { RateLimitDecision } from '../contracts/rate-limit.js';
import type { ErrorSource } from '../errors.js';
import { evaluateRateLimit } from './algorithms.js';
import type { NormalizedPolicy } from './policy.js';
import type { RateLimitState } from './state.js';
import { rateLimitDecisionFromRows, type RateLimitStateRow } from '../sql/rate-limit.js';

/**
 * How often a consume runs its statement before giving up. A run is repeated only when another
 * writer changed the key in a window of a few statements: it freed the capacity a denial was
 * about to be explained from, or (PostgreSQL) it wrote a row the statement was deciding from.
 * Each repeat needs a new such write to land in that window, so a call that sees 50 in a row
 * is losing to a writer that never pauses; it gives up (`TIMEOUT`, nothing consumed) rather
 * than hold its caller past any reasonable wait.
 */
export const CONSUME_ATTEMPTS = 50;

/** The rows a consume statement wrote (each with the time it decided at), none when it denied. */
export type ConsumeRows = readonly (RateLimitStateRow & { now: number | string })[];

/** The key's live states, per policy in order, and the time they were read at. */
export interface StatesRead {
  states: (RateLimitState | undefined)[];
  now: number;
}

/** A store's two statements, for {@link settleConsume}. */
export interface ConsumeSteps<R> {
  /** Runs the consume statement; `undefined` when it was rolled back on a conflict and may run again. */
  consume(): R extends 'async' ? Promise<ConsumeRows | undefined> : ConsumeRows | undefined;
  /** Reads the key's live states of the policies. */
  read(): R extends 'async' ? Promise<StatesRead> : StatesRead;
}

type Ask = { consume: true } | { consume: false };
type Answer = ConsumeRows | undefined | StatesRead;

/**
 * The consume rule of the SQL stores: run the statement; rows back mean allowed, and the
 * decision comes from them; no row means denied, and the states read afterwards explain it,
 * unless they now admit the call (another writer freed capacity in between): then run again.
 */
function* loop(source: ErrorSource, policies: readonly NormalizedPolicy[], cost: number): Generator<Ask, RateLimitDecision, Answer> {
  for (let attempt = 0; attempt < CONSUME_ATTEMPTS; attempt++) {
    const rows = (yield { consume: true }) as ConsumeRows | undefined;
    if (rows === undefined) continue;
    if (rows.length > 0) return rateLimitDecisionFromRows(policies, rows, Number(rows[0]!.now));
    const seen = (yield { consume: false }) as StatesRead;
    const denied = evaluateRateLimit(policies, seen.states, seen.now, cost, false);
    if (!denied.decision.allowed) return denied.decision;
  }
  const why = 'other writers kept changing the key';
  throw source.error('TIMEOUT', `consume did not settle after ${CONSUME_ATTEMPTS} runs: ${why}`);
}

/** {@link loop} with synchronous statements (SQLite). */
export function settleConsumeSync(
  source: ErrorSource,
  policies: readonly NormalizedPolicy[],
  cost: number,
  steps: ConsumeSteps<'sync'>,
): RateLimitDecision {
  const run = loop(source, policies, cost);
  let step = run.next();
  while (!step.done) step = run.next(step.value.consume ? steps.consume() : steps.read());
  return step.value;
}

/** {@link loop} with asynchronous statements (PostgreSQL). */
export async function settleConsume(
  source: ErrorSource,
  policies: readonly NormalizedPolicy[],
  cost: number,
  steps: ConsumeSteps<'async'>,
): Promise<RateLimitDecision> {
  const run = loop(source, policies, cost);
  let step = run.next();
  while (!step.done) step = run.next(step.value.consume ? await steps.consume() : await steps.read());
  return step.value;
}
