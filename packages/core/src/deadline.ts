import { CALL_OPTION_NAMES, type STORE_CALLS, type StoreCall } from './call-options.js';
import type { CallOptions } from './contracts/common.js';
import type { ErrorSource } from './errors.js';
import { steadyNow } from './steady-clock.js';
import { validateOptions, validateTimestamp } from './validate.js';

function unknownOption(source: ErrorSource, name: string, call: StoreCall | undefined) {
  // The name as code would spell it, cut short: it may come from anywhere.
  const shown = /^[A-Za-z_$][\w$]{0,63}$/.test(name) ? `opts.${name}` : `opts[${JSON.stringify(name.slice(0, 64))}]`;
  const of = call === undefined ? 'any store call' : `${call.method} (it takes ${[...call.names].join(', ')})`;
  return source.invalid(`${shown} is not an option of ${of}: a misspelt name? the caller's deadline is opts.deadline`, {
    field: shown,
  });
}

/**
 * `opts.deadline` of a contract method's options (see {@link CallOptions}): `undefined`
 * when absent, else an integer epoch ms (`INVALID_ARGUMENT` otherwise). `opts` may be
 * `undefined`; any other non-object is `INVALID_ARGUMENT`, and so is an option the method
 * does not take: `call`, its entry in {@link STORE_CALLS}, says which it takes (without it,
 * an option no contract method takes). A misspelt `deadLine` or `cosst`, or `ttlMs` given to
 * `get`, would otherwise be ignored: a call run with no deadline, at cost 1, or without the
 * effect its caller meant. Every store reads the deadline through here, once per call.
 */
export function deadlineOf(source: ErrorSource, opts: unknown, call?: StoreCall): number | undefined {
  const o = validateOptions<CallOptions>(source, 'opts', opts);
  const names = call?.names ?? CALL_OPTION_NAMES;
  for (const name in o) {
    // Own names only: an enumerable name on Object.prototype (a polyfill) must not fail every call.
    if (!names.has(name) && Object.hasOwn(o, name)) throw unknownOption(source, name, call);
  }
  const deadline = o.deadline;
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
  /**
   * `deadline` on {@link steadyNow}'s clock, fixed when the budget was made: the end a store
   * sends to its server (`ServerClock.toServer`), which no step of `Date.now()` moves.
   */
  readonly steadyEnd: number;
}

/**
 * The budget of one call: the earlier of the caller's `deadline` and `limitMs` from now.
 * A deadline already passed is `TIMEOUT` at once, before anything is sent, so the call
 * changes nothing.
 */
export function callBudget(source: ErrorSource, limitMs: number, deadline: number | undefined, now: number = Date.now()): CallBudget {
  const own = now + limitMs;
  if (deadline === undefined || deadline >= own) return { deadline: own, ms: limitMs, byCaller: false, steadyEnd: steadyNow() + limitMs };
  if (deadline <= now) throw pastDeadline(source, deadline, now);
  return { deadline, ms: deadline - now, byCaller: true, steadyEnd: steadyNow() + (deadline - now) };
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
  // The caller's deadline is an instant: the time it left this call, not the span it was set with.
  const span = budget.byCaller
    ? `in the ${budget.ms} ms left before the caller's deadline`
    : `within the store's time limit (${budget.ms} ms)`;
  // Not "will not take effect": a call that ran in time and whose answer came late did.
  const outcome = `had it not run by then, ${backend} refuses it; if it ran, its answer came too late`;
  return source.error('TIMEOUT', `no answer from ${backend} ${span}: ${outcome}`, {
    details: { deadline: budget.deadline },
  });
}

/**
 * `promise`, or the error `timedOut()` makes once `ms` have passed: the one rule of every
 * bounded wait (a call's budget, a health probe, a clock sample). `promise` is not cancelled:
 * a value it yields after the timeout goes to `onLate` (to undo or report what the caller was
 * told failed), an error after the timeout is dropped. `ms <= 0` times out on the next tick.
 * The timer is unref'd: a wait never keeps a process alive by itself.
 */
export function settleWithin<T>(promise: Promise<T>, ms: number, timedOut: () => unknown, onLate?: (value: T) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let late = false;
    const timer = setTimeout(
      () => {
        late = true;
        reject(timedOut());
      },
      Math.max(0, ms),
    );
    timer.unref();
    promise.then(
      (value) => {
        clearTimeout(timer);
        if (!late) resolve(value);
        else onLate?.(value);
      },
      (err: unknown) => {
        clearTimeout(timer);
        reject(err);
      },
    );
  });
}
