import type { RateLimitAlgorithm, RateLimitOnExceed } from '../contracts/rate-limit.js';

/**
 * GCRA: what the bucket owes, as of a time. The theoretical arrival time (TAT) of GCRA is
 * `at + debt / limit` ms; it is kept as a debt and a time because a TAT in whole ms would
 * round, and the arithmetic must stay exact.
 */
export interface GcraState {
  readonly algorithm: 'gcra';
  /** Units owed, in 1/limit ms: each unit consumed adds `windowMs`, each ms drains `limit`. */
  readonly debt: number;
  /** Epoch ms the debt was computed at; a clock that steps back keeps the later time. */
  readonly at: number;
}

export interface FixedWindowState {
  readonly algorithm: 'fixed-window';
  /** The window's index: it starts at `window * windowMs` epoch ms. */
  readonly window: number;
  /** Units consumed in that window. */
  readonly count: number;
}

export interface SlidingWindowState {
  readonly algorithm: 'sliding-window';
  /** The current window's index: it starts at `window * windowMs` epoch ms. */
  readonly window: number;
  /** Units consumed in that window. */
  readonly count: number;
  /** Units consumed in the window before it (`window - 1`). */
  readonly previousCount: number;
}

export interface AnchoredWindowState {
  readonly algorithm: 'anchored-window';
  /** Epoch ms the window started at: the key's first call, or the last restart. */
  readonly start: number;
  /** Units consumed since the window started. */
  readonly count: number;
  /** The window's length in ms: `windowMs`, or longer after a `backoff`. */
  readonly length: number;
}

/** The stored state of one policy under one key, named per algorithm. */
export type RateLimitState = GcraState | FixedWindowState | SlidingWindowState | AnchoredWindowState;

/**
 * How SQL rows (columns `mark`, `used`, `previous`) and Redis records store a state: three
 * integers, one layout for every algorithm so one table holds them all.
 * - `mark`: where the state stands in time: gcra's `at`, the windows' `window`, the anchored
 *   window's `start`;
 * - `used`: gcra's `debt`, the windows' `count`;
 * - `previous`: the sliding window's `previousCount`, the anchored window's `length`, else 0.
 */
export interface RateLimitStateColumns {
  mark: number;
  used: number;
  previous: number;
}

export function stateToColumns(state: RateLimitState): RateLimitStateColumns {
  switch (state.algorithm) {
    case 'gcra':
      return { mark: state.at, used: state.debt, previous: 0 };
    case 'fixed-window':
      return { mark: state.window, used: state.count, previous: 0 };
    case 'sliding-window':
      return { mark: state.window, used: state.count, previous: state.previousCount };
    case 'anchored-window':
      return { mark: state.start, used: state.count, previous: state.length };
  }
}

/** The state a policy of `algorithm` stored as these columns (numbers, or integer strings from a driver). */
export function stateFromColumns(
  algorithm: RateLimitAlgorithm,
  mark: number | string,
  used: number | string,
  previous: number | string,
): RateLimitState {
  switch (algorithm) {
    case 'gcra':
      return { algorithm, debt: Number(used), at: Number(mark) };
    case 'fixed-window':
      return { algorithm, window: Number(mark), count: Number(used) };
    case 'sliding-window':
      return { algorithm, window: Number(mark), count: Number(used), previousCount: Number(previous) };
    case 'anchored-window':
      return { algorithm, start: Number(mark), count: Number(used), length: Number(previous) };
  }
}

/**
 * The number that stands for each algorithm where a statement decides several policies in
 * one `CASE` (the SQL of `rateLimitManySql`, PostgreSQL's multi-policy function). An
 * `anchored-window` policy's number also says its `onExceed`: see {@link rateLimitCode}.
 */
export const RATE_LIMIT_ALGORITHM_CODES: Readonly<Record<RateLimitAlgorithm, number>> = Object.freeze({
  gcra: 0,
  'fixed-window': 1,
  'sliding-window': 2,
  'anchored-window': 3,
});

/**
 * How a statement or script computes a policy: its algorithm, and for `anchored-window` its
 * `onExceed` too (`anchored-window:restart`...), since that changes the arithmetic.
 */
export type RateLimitVariant =
  | Exclude<RateLimitAlgorithm, 'anchored-window'>
  | 'anchored-window:keep'
  | 'anchored-window:restart'
  | 'anchored-window:backoff';

export const RATE_LIMIT_VARIANTS: readonly RateLimitVariant[] = Object.freeze([
  'gcra',
  'fixed-window',
  'sliding-window',
  'anchored-window:keep',
  'anchored-window:restart',
  'anchored-window:backoff',
]);

/** A policy's variant (see {@link RateLimitVariant}). */
export function rateLimitVariant(p: { algorithm: RateLimitAlgorithm; onExceed: RateLimitOnExceed }): RateLimitVariant {
  return p.algorithm === 'anchored-window' ? `anchored-window:${p.onExceed}` : p.algorithm;
}

/** A variant's number in SQL: {@link RATE_LIMIT_ALGORITHM_CODES}, then 4 and 5 for `restart` and `backoff`. */
export function rateLimitCode(p: { algorithm: RateLimitAlgorithm; onExceed: RateLimitOnExceed }): number {
  return RATE_LIMIT_VARIANTS.indexOf(rateLimitVariant(p));
}
