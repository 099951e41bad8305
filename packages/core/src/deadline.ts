import type { CallOptions } from './contracts/common.js';
import type { ErrorSource } from './errors.js';
import { validateOptions, validateTimestamp } from './validate.js';

/**
 * `opts.deadline` of a contract method's options (see {@link CallOptions}): `undefined`
 * when absent, else an integer epoch ms (`INVALID_ARGUMENT` otherwise). `opts` may be
 * `undefined`; any other non-object is `INVALID_ARGUMENT`.
 */
export function deadlineOf(source: ErrorSource, opts: unknown): number | undefined {
  const deadline = validateOptions<CallOptions>(source, 'opts', opts).deadline;
  return deadline === undefined ? undefined : validateTimestamp(source, 'opts.deadline', deadline);
}

/** How long a call may run and until when, on this process's clock (`Date.now()`). */
export interface CallBudget {
  /** Epoch ms: the caller's deadline or the store's own limit, whichever comes first. */
  readonly deadline: number;
  /** Milliseconds from now to `deadline`, at least 1. */
  readonly ms: number;
  /** True when the caller's deadline, not the store's own limit, sets `deadline`. */
  readonly byCaller: boolean;
}

/**
 * The budget of one call: the earlier of the caller's `deadline` and `limitMs` from now.
 * A deadline already passed is `TIMEOUT` at once, before anything is sent, so the call
 * changes nothing.
 */
export function callBudget(source: ErrorSource, limitMs: number, deadline: number | undefined, now: number = Date.now()): CallBudget {
  const own = now + limitMs;
  if (deadline === undefined || deadline >= own) return { deadline: own, ms: limitMs, byCaller: false };
  if (deadline <= now) throw pastDeadline(source, deadline, now);
  return { deadline, ms: deadline - now, byCaller: true };
}

/** For stores that answer at once (memory): `TIMEOUT` if the caller's deadline has passed. */
export function checkDeadline(source: ErrorSource, deadline: number | undefined, now: number = Date.now()): void {
  if (deadline !== undefined && deadline <= now) throw pastDeadline(source, deadline, now);
}

function pastDeadline(source: ErrorSource, deadline: number, now: number) {
  return source.error('TIMEOUT', `the caller's deadline passed ${now - deadline} ms before the call started; nothing was done`, {
    details: { deadline },
  });
}

/** The `TIMEOUT` of a call whose budget ran out while waiting for the backend. */
export function budgetTimeout(source: ErrorSource, backend: string, budget: CallBudget) {
  const whose = budget.byCaller ? "the caller's deadline" : "the store's time limit";
  return source.error('TIMEOUT', `no answer from ${backend} within ${budget.ms} ms (${whose}); the call will not take effect`, {
    details: { deadline: budget.deadline },
  });
}
