import { readdirSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { createStreamsServer } from '@stowage/durable-streams-server';
import type { Backend } from '../scale/targets.js';
import { type BackendProbe, soakBackend } from './stores.js';
import { trendOf } from './trend.js';
import { type Kind, newTally, runWorkers, StreamsClient } from './workload.js';

export interface SoakOptions {
  backend: Backend;
  durationMs: number;
  /** @default 64 */
  concurrency?: number;
  /** @default 5000 */
  sampleMs?: number;
  /** Samples before this are the warm-up, left out of the growth figures. @default a fifth of the run */
  warmupMs?: number;
  /** Background prune / stream cleanup, as a timer in an application would run it. @default 2000 */
  pruneMs?: number;
  log?: (line: string) => void;
}

export interface Sample extends BackendProbe {
  atMs: number;
  /** Calls completed since the previous sample. */
  ops: number;
  errors: number;
  heapUsed: number;
  rss: number;
  fds: number;
}

/**
 * One figure after warm-up: the floor (lowest sample) of its first third and of its last
 * third, their growth, and its peak. Floors, because the live records, and with them the heap,
 * RSS and the backend's bytes, follow the call rate, which moves with the machine's load; a
 * leak raises the floor whatever the rate.
 */
export interface Growth {
  first: number;
  last: number;
  max: number;
  growth: number;
}

export interface SoakReport {
  backend: Backend;
  durationMs: number;
  concurrency: number;
  /** PostgreSQL with autovacuum off: the soak VACUUMed its tables every 10 s. */
  vacuumedBySoak?: boolean;
  ops: Record<Kind, number>;
  totalOps: number;
  errors: number;
  firstErrors: string[];
  samples: Sample[];
  growth: Partial<Record<'heapUsed' | 'rss' | 'fds' | 'connections' | 'bytes' | 'records', Growth>>;
  /** The rules that failed (empty: the soak passed). */
  failures: string[];
}

/** Heap and RSS must grow less than this after warm-up; the backend's bytes this much more than its records. */
export const GROWTH_LIMIT = 0.05;

export function growthOf(values: number[]): Growth | undefined {
  if (values.length < 2) return undefined;
  const third = Math.max(1, Math.floor(values.length / 3));
  const first = Math.min(...values.slice(0, third));
  const last = Math.min(...values.slice(-third));
  return { first, last, max: Math.max(...values), growth: first === 0 ? 0 : last / first - 1 };
}

/**
 * The pass rule: no errors; heap and RSS grow less than 5% after warm-up once the call
 * rate is accounted for (`trendOf`); the backend's bytes grow less than 5% more than its live records peaked;
 * open file descriptors and connections flat: the floor of the last third at most 2 above the
 * floor of the first third.
 */
export function judge(r: Pick<SoakReport, 'errors' | 'growth' | 'totalOps'>): string[] {
  const failures: string[] = [];
  if (r.totalOps === 0) failures.push('no calls completed');
  if (r.errors > 0) failures.push(`${r.errors} errors`);
  for (const k of ['heapUsed', 'rss'] as const) {
    const g = r.growth[k];
    if (g && g.growth >= GROWTH_LIMIT) failures.push(`${k} grew ${(g.growth * 100).toFixed(1)}% after warm-up`);
  }
  // The backend's bytes follow the live records (their number moves with the call rate): they
  // may grow as much as the records' peak did, plus 5%.
  const bytes = r.growth.bytes;
  if (bytes) {
    const records = r.growth.records;
    const allowed = GROWTH_LIMIT + (records && records.first > 0 ? Math.max(0, records.max / records.first - 1) : 0);
    if (bytes.growth >= allowed) {
      failures.push(
        `backend bytes grew ${(bytes.growth * 100).toFixed(1)}% after warm-up, more than the live records allow (${(allowed * 100).toFixed(1)}%)`,
      );
    }
  }
  for (const k of ['fds', 'connections'] as const) {
    const g = r.growth[k];
    // Floors too: keep-alive sockets close when idle and reopen, so the count moves; a leak raises its floor.
    if (g && g.last > g.first + 2) failures.push(`${k} rose from ${g.first} to ${g.last} after warm-up`);
  }
  return failures;
}

function collectGc(): () => void {
  const existing = (globalThis as { gc?: () => void }).gc;
  if (existing) return existing;
  // Heap after a full collection is what stays alive; without it the figure is GC timing.
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

/** The streams server and every contract on one backend at `concurrency` calls in flight. */
export async function runSoak(o: SoakOptions): Promise<SoakReport> {
  const concurrency = o.concurrency ?? 64;
  const sampleMs = o.sampleMs ?? 5000;
  const warmupMs = o.warmupMs ?? o.durationMs / 5;
  const log = o.log ?? (() => {});
  const gc = collectGc();
  const backend = await soakBackend(o.backend);
  const { stores } = backend;
  const server = createStreamsServer({ store: stores.streams, longPollTimeoutMs: 5000, log: () => {} });
  const http = new StreamsClient(await server.listen(0));
  const tally = newTally();
  const samples: Sample[] = [];
  let stopped = false;
  const janitor = setInterval(() => {
    void (async () => {
      for (const s of [stores.sessions, stores.rateLimit, stores.idempotency, stores.csrf, stores.locks, stores.jwks]) await s.prune();
      await stores.streams.cleanupExpired();
    })().catch((err: unknown) => {
      tally.errors++;
      if (tally.firstErrors.length < 5) tally.firstErrors.push(`prune: ${err instanceof Error ? err.message : String(err)}`);
    });
  }, o.pruneMs ?? 2000);
  // Every 10 s, as autovacuum's thresholds would on tables this small and this busy.
  const vacuum = backend.maintain
    ? setInterval(() => {
        void backend.maintain!().catch((err: unknown) => {
          tally.errors++;
          if (tally.firstErrors.length < 5) tally.firstErrors.push(`vacuum: ${err instanceof Error ? err.message : String(err)}`);
        });
      }, 10_000)
    : undefined;
  if (backend.maintain) log('  the server runs with autovacuum off: the soak VACUUMs its tables every 10 s');
  const began = Date.now();
  let lastOps = 0;
  const total = () => Object.values(tally.ops).reduce((a, b) => a + b, 0);
  const takeSample = async () => {
    gc();
    const { heapUsed, rss } = process.memoryUsage();
    const probe = await backend.probe();
    const ops = total();
    const s: Sample = {
      atMs: Date.now() - began,
      ops: ops - lastOps,
      errors: tally.errors,
      heapUsed,
      rss,
      fds: readdirSync('/proc/self/fd').length,
      ...probe,
    };
    lastOps = ops;
    samples.push(s);
    log(
      `  ${(s.atMs / 1000).toFixed(0)} s: ${s.ops} calls, ${s.errors} errors, heap ${(heapUsed / 2 ** 20).toFixed(1)} MiB, ` +
        `rss ${(rss / 2 ** 20).toFixed(1)} MiB, fds ${s.fds}` +
        (probe.connections === null ? '' : `, connections ${probe.connections}`) +
        (probe.bytes === null ? '' : `, backend ${(probe.bytes / 2 ** 20).toFixed(1)} MiB`) +
        (probe.records === null ? '' : `, records ${probe.records}`),
    );
  };
  const workers = runWorkers(stores, http, concurrency, tally, () => stopped);
  try {
    while (Date.now() - began < o.durationMs) {
      await new Promise((resolve) => setTimeout(resolve, Math.min(sampleMs, o.durationMs - (Date.now() - began))));
      await takeSample();
    }
  } finally {
    stopped = true;
    await workers;
    clearInterval(janitor);
    clearInterval(vacuum);
    http.close();
    await server.close(100);
    await backend.close();
  }
  const { growth, failures } = assess(o.backend, samples, warmupMs, tally.errors, total());
  const report: SoakReport = {
    backend: o.backend,
    durationMs: o.durationMs,
    concurrency,
    vacuumedBySoak: backend.maintain !== undefined,
    ops: tally.ops,
    totalOps: total(),
    errors: tally.errors,
    firstErrors: tally.firstErrors,
    samples,
    growth,
    failures,
  };
  return report;
}

/** Growth figures and the failures of the pass rule, from a run's samples. */
export function assess(
  backend: Backend,
  samples: Sample[],
  warmupMs: number,
  errors: number,
  totalOps: number,
): Pick<SoakReport, 'growth' | 'failures'> {
  const after = samples.filter((s) => s.atMs >= warmupMs);
  const growth: SoakReport['growth'] = {};
  for (const k of ['heapUsed', 'rss', 'fds', 'connections', 'bytes', 'records'] as const) {
    const values = after.map((s) => s[k]).filter((v): v is number => typeof v === 'number' && !Number.isNaN(v));
    // Heap and RSS: the trend once the call rate is accounted for; the rest: floors.
    const g =
      (k === 'heapUsed' || k === 'rss') && values.length === after.length
        ? (trendOf(
            values,
            after.map((s) => s.ops),
            after.map((s) => s.atMs),
          ) ?? growthOf(values))
        : growthOf(values);
    if (g) growth[k] = g;
  }
  // Redis used_memory is the whole server's (other clients' keys too): reported, not judged.
  const judged = backend === 'redis' ? { ...growth, bytes: undefined } : growth;
  return { growth, failures: judge({ errors, totalOps, growth: judged }) };
}
