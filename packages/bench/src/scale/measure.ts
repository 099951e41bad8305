import { performance } from 'node:perf_hooks';
import { DAY, keyOf, POLICY, SCOPE, SESSION, type ScaleTarget } from './targets.js';

export type Operation = 'rate-limit consume' | 'session get' | 'session set' | 'idempotency reserve';
export const OPERATIONS: readonly Operation[] = ['rate-limit consume', 'session get', 'session set', 'idempotency reserve'];

export interface Latency {
  samples: number;
  p50Us: number;
  p99Us: number;
  maxUs: number;
}

/** Percentiles of latencies in ms, given in µs to 0.1. */
export function latency(ms: number[]): Latency {
  const sorted = Float64Array.from(ms).sort();
  const at = (p: number) => Math.round((sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? 0) * 10_000) / 10;
  return { samples: sorted.length, p50Us: at(0.5), p99Us: at(0.99), maxUs: at(1) };
}

/** A small deterministic generator, so every backend reads the same key sequence. */
export function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let x = Math.imul(s ^ (s >>> 15), 1 | s);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * The call of `operation` on the i-th sample: consume, get and set touch a live key drawn at
 * random from the `live` loaded ones (so the index is walked everywhere, not in a cached
 * corner); reserve takes a new key each time, as a new request does.
 */
export function call(t: ScaleTarget, operation: Operation, live: number, tag: string): (i: number) => Promise<unknown> {
  const next = random(live);
  const pick = () => keyOf(Math.floor(next() * live));
  switch (operation) {
    case 'rate-limit consume':
      return () => t.rateLimit.consume(pick(), POLICY);
    case 'session get':
      return async () => {
        if ((await t.sessions.get(pick())) === undefined) throw new Error('a loaded session is missing');
      };
    case 'session set':
      return () => t.sessions.set(pick(), SESSION, { ttlMs: DAY });
    case 'idempotency reserve':
      return async (i) => {
        const r = await t.idempotency.reserve(SCOPE, `n-${tag}-${i}`, 'fp', { leaseMs: DAY });
        if (r.state !== 'reserved') throw new Error(`reserve of a new key: ${r.state}`);
      };
  }
}

/** Serial calls (one caller awaiting each), a tenth of them as warm-up; returns the timed ones. */
export async function sample(op: (i: number) => Promise<unknown>, samples: number): Promise<number[]> {
  for (let i = 0; i < Math.ceil(samples / 10); i++) await op(-1 - i);
  const ms: number[] = [];
  for (let i = 0; i < samples; i++) {
    const t0 = performance.now();
    await op(i);
    ms.push(performance.now() - t0);
  }
  return ms;
}

export interface PruneRow {
  backend: string;
  live: number;
  expired: number;
  /** Median of the rounds: ms for `sessions.prune()` to remove `expired` rows. */
  pruneMs: number;
  rounds: number[];
  /** Foreground calls (`fgOperation`) while a prune of `fgExpired` rows runs, against the same calls without it. */
  fgExpired: number;
  /** The foreground calls' operation (rows written before this field: `session get`). */
  fgOperation?: Operation;
  fg: Latency;
  /** The same foreground loop, as many calls, with no prune running (rows written before this field have none). */
  fgIdle?: Latency;
  baselineP99Us: number;
  /** SQLite: the prune ran in a worker thread (`pruneInWorker`). */
  inWorker?: boolean;
}

/**
 * Prune at scale: `expired` expired sessions beside `live` live ones, `rounds` times, then a
 * larger prune with serial `session get` calls beside it (the prune a timer would run: the
 * same store and pool).
 */
export async function measurePrune(
  t: ScaleTarget,
  live: number,
  expired: number,
  rounds: number,
  baselineP99Us: number,
  foregroundOperation: Operation = 'session get',
): Promise<PruneRow> {
  const times: number[] = [];
  for (let r = 0; r < rounds; r++) {
    await t.loadExpired!(expired, `${live}-${r}`);
    const t0 = performance.now();
    const n = await t.sessions.prune();
    times.push(performance.now() - t0);
    if (n !== expired) throw new Error(`prune removed ${n} rows, ${expired} had expired`);
  }
  const fgExpired = expired * 10;
  await t.loadExpired!(fgExpired, `${live}-fg`);
  const get = call(t, foregroundOperation, live, 'fg');
  // Calls arrive as I/O events do: the event loop turns between them (a loop of calls that
  // settle at once would starve the SQLite prune, which yields between its batches). The
  // clock starts before the turn, so a batch of an in-process prune run meanwhile counts.
  const foreground = async (i: number, ms: number[]) => {
    const t0 = performance.now();
    await new Promise((resolve) => setImmediate(resolve));
    await get(i);
    ms.push(performance.now() - t0);
  };
  const ms: number[] = [];
  let pruning = true;
  const prune = t.sessions.prune().finally(() => {
    pruning = false;
  });
  for (let i = 0; pruning; i++) await foreground(i, ms);
  const idle: number[] = [];
  for (let i = 0; i < Math.max(ms.length, 1000); i++) await foreground(i, idle);
  const removed = await prune;
  if (removed !== fgExpired) throw new Error(`prune removed ${removed} rows, ${fgExpired} had expired`);
  const sorted = [...times].sort((a, b) => a - b);
  return {
    backend: t.backend,
    live,
    expired,
    pruneMs: Math.round(sorted[Math.floor(sorted.length / 2)]! * 10) / 10,
    rounds: times.map((x) => Math.round(x * 10) / 10),
    fgExpired,
    fgOperation: foregroundOperation,
    fg: latency(ms),
    fgIdle: latency(idle),
    baselineP99Us,
    ...(t.pruneInWorker && { inWorker: true }),
  };
}
