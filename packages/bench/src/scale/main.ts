#!/usr/bin/env node
/**
 * Scale curve: p50 / p99 of rate-limit consume, session get and set, and idempotency reserve
 * with 10^4 .. 10^7 live keys on each backend, and the cost of a prune beside them.
 *
 *   npm run bench:scale                                      10^4, 10^5, 10^6 on every backend
 *   npm run bench:scale -- --sizes 1e4,1e7 --backends postgres --json packages/bench/results/scale.json
 *   npm run bench:scale -- --operations "session get" --samples 2000 --no-prune
 *   npm run bench:scale -- --streams-only --backends sqlite    streams at scale (also with --streams)
 *
 * Keys are loaded by each backend's bulk path (untimed), growing from one size to the next.
 */
import { writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { getHeapStatistics } from 'node:v8';
import { call, latency, measurePrune, OPERATIONS, type Operation, type PruneRow, sample } from './measure.js';
import { type StreamScaleRow, streamScale } from './streams.js';
import { type Backend, BACKENDS, type Contract, type ScaleTarget, target } from './targets.js';
import { formatPrune, formatScale, formatStreams, type ScaleRow } from './table.js';

const CONTRACT: Record<Operation, Contract> = {
  'rate-limit consume': 'rate-limit',
  'session get': 'session',
  'session set': 'session',
  'idempotency reserve': 'idempotency',
};

export interface ScaleResult {
  meta: { node: string; cpus: number; memoryGiB: number; date: string; argv: string[]; samples: number };
  rows: ScaleRow[];
  prune: PruneRow[];
  streams: StreamScaleRow[];
  /** Where a backend stopped short of a size, and why. */
  stops: { backend: Backend; size: number; reason: string }[];
}

const list = (s: string) =>
  s
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean);

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      sizes: { type: 'string', default: '1e4,1e5,1e6' },
      backends: { type: 'string', default: BACKENDS.join(',') },
      operations: { type: 'string', default: OPERATIONS.join(',') },
      samples: { type: 'string', default: '5000' },
      json: { type: 'string' },
      'no-prune': { type: 'boolean', default: false },
      'prune-expired': { type: 'string', default: '10000' },
      'prune-rounds': { type: 'string', default: '3' },
      streams: { type: 'boolean', default: false },
      'streams-only': { type: 'boolean', default: false },
      'stream-messages': { type: 'string', default: '1e6' },
      'stream-count': { type: 'string', default: '1e4' },
      'sqlite-pragma': { type: 'string', multiple: true, default: [] },
      'sqlite-prune-in-worker': { type: 'boolean', default: false },
      'prune-foreground': { type: 'string', default: 'session get' },
    },
  });
  const sizes = list(values.sizes)
    .map(Number)
    .sort((a, b) => a - b);
  const backends = list(values.backends) as Backend[];
  const operations = list(values.operations) as Operation[];
  for (const b of backends) if (!BACKENDS.includes(b)) throw new Error(`unknown backend ${b}; known: ${BACKENDS.join(', ')}`);
  if (!OPERATIONS.includes(values['prune-foreground'] as Operation))
    throw new Error(`unknown --prune-foreground ${values['prune-foreground']}`);
  for (const o of operations) if (!OPERATIONS.includes(o)) throw new Error(`unknown operation ${o}; known: ${OPERATIONS.join(', ')}`);
  const samples = Number(values.samples);
  const result: ScaleResult = {
    meta: {
      node: process.version,
      cpus: cpus().length,
      memoryGiB: Math.round(totalmem() / 2 ** 30),
      date: new Date().toISOString(),
      argv: process.argv.slice(2),
      samples,
    },
    rows: [],
    prune: [],
    streams: [],
    stops: [],
  };
  const save = () => values.json && writeFileSync(values.json, `${JSON.stringify(result, null, 2)}\n`);
  for (const backend of backends) {
    console.log(`backend ${backend}`);
    if (!values['streams-only']) {
      const t = await target(backend, { pragmas: values['sqlite-pragma'], pruneInWorker: values['sqlite-prune-in-worker'] });
      try {
        await runBackend(t, sizes, operations, samples, result, {
          prune: !values['no-prune'] && t.loadExpired !== undefined,
          expired: Number(values['prune-expired']),
          rounds: Number(values['prune-rounds']),
          foreground: values['prune-foreground'] as Operation,
        });
      } finally {
        await t.close();
      }
      save();
    }
    if (values.streams || values['streams-only']) {
      result.streams.push(
        ...(await streamScale(
          backend,
          samples,
          (l) => console.log(l),
          {
            long: Number(values['stream-messages']),
            many: Number(values['stream-count']),
          },
          values['sqlite-pragma'],
        )),
      );
      save();
    }
  }
  console.log(`\n${formatScale(result.rows)}`);
  if (result.prune.length > 0) console.log(`\n${formatPrune(result.prune)}`);
  if (result.streams.length > 0) console.log(`\n${formatStreams(result.streams)}`);
  for (const s of result.stops) console.log(`\n${s.backend} stopped before ${s.size.toExponential()}: ${s.reason}`);
  if (values.json) console.log(`\nwrote ${values.json}`);
}

async function runBackend(
  t: ScaleTarget,
  sizes: number[],
  operations: Operation[],
  samples: number,
  result: ScaleResult,
  prune: { prune: boolean; expired: number; rounds: number; foreground: Operation },
): Promise<void> {
  const contracts = [...new Set(operations.map((o) => CONTRACT[o]))];
  let loaded = 0;
  let bytesPerKey = 0;
  for (const size of sizes) {
    if (t.backend === 'memory') {
      // A heap out of memory kills the process: stop before a size that would not fit.
      const { heap_size_limit, used_heap_size } = getHeapStatistics();
      const need = used_heap_size + (size - loaded) * bytesPerKey;
      if (need > heap_size_limit * 0.8) {
        const reason = `needs about ${(need / 2 ** 30).toFixed(1)} GiB of heap (${Math.round(bytesPerKey)} B per key, all contracts); the limit is ${(heap_size_limit / 2 ** 30).toFixed(1)} GiB (node --max-old-space-size)`;
        result.stops.push({ backend: t.backend, size, reason });
        console.log(`  stop: ${reason}`);
        return;
      }
    }
    const before = getHeapStatistics().used_heap_size;
    const t0 = performance.now();
    for (const c of contracts) await t.load(c, loaded, size);
    const loadMs = Math.round(performance.now() - t0);
    if (t.backend === 'memory') {
      (globalThis as { gc?: () => void }).gc?.();
      bytesPerKey = Math.max(bytesPerKey, (getHeapStatistics().used_heap_size - before) / (size - loaded));
    }
    loaded = size;
    const bytes = await t.size();
    console.log(
      `  ${size.toExponential()} keys per contract loaded in ${loadMs} ms${bytes ? `, ${(bytes / 2 ** 20).toFixed(0)} MiB` : ''}`,
    );
    for (const operation of operations) {
      const l = latency(await sample(call(t, operation, size, String(size)), samples));
      const first = result.rows.find((r) => r.backend === t.backend && r.operation === operation);
      result.rows.push({
        backend: t.backend,
        operation,
        size,
        ...l,
        p50Ratio: first ? Math.round((l.p50Us / first.p50Us) * 100) / 100 : 1,
        p99Ratio: first ? Math.round((l.p99Us / first.p99Us) * 100) / 100 : 1,
        loadMs,
        backendBytes: bytes ?? null,
      });
      console.log(`  ${operation} at ${size.toExponential()}: p50 ${l.p50Us} µs, p99 ${l.p99Us} µs`);
    }
    if (prune.prune) {
      const baseline = result.rows.find((r) => r.backend === t.backend && r.size === size && r.operation === prune.foreground);
      const row = await measurePrune(t, size, prune.expired, prune.rounds, baseline?.p99Us ?? 0, prune.foreground);
      result.prune.push(row);
      console.log(
        `  prune ${prune.expired} expired beside ${size.toExponential()}: ${row.pruneMs} ms; ${prune.foreground} p99 during prune ${row.fg.p99Us} µs`,
      );
    }
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
