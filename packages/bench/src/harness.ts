import { performance } from 'node:perf_hooks';

/** One operation; `i` counts calls, so ops can spread over keys. */
export type Op = (i: number) => Promise<unknown>;

/** What a row is to the ratios printed per client (see {@link clientRatios}). */
export type Role = 'ours' | 'anchor' | 'ceiling' | 'reference';

/**
 * Thrown by a contender's `setup` when the library cannot run this case (e.g. a driver it
 * does not accept): the row is printed with the reason instead of numbers, nothing is faked.
 */
export class Unsupported extends Error {}

export interface Contender {
  /** `stowage`, or the library compared with (`rate-limiter-flexible`, `raw pg`...). */
  library: string;
  /** The driver the row runs on (`ioredis`, `node-redis`), where a suite has several. */
  client?: string;
  /**
   * With `client`: `ours`, the `anchor` of that client (the library a user of that driver
   * would pick), its raw `ceiling` (the least the store's calls can cost on it), or another
   * raw `reference` row.
   */
  role?: Role;
  /** Builds the operation (and its client, data...). */
  setup(): Promise<Op>;
  /** Called before each measurement (e.g. to start from an empty store). */
  reset?(): Promise<void>;
  teardown?(): Promise<void>;
  /**
   * CPU time (user + system, ms) the process serving this contender has used so far, e.g. a
   * server child's. With it, throughput rows also carry that process's CPU time per op, which
   * is what the server controls when the load generator is the bottleneck.
   */
  cpuMs?(): Promise<number>;
}

export interface Comparison {
  contract: string;
  operation: string;
  backend: string;
  /** Our store. */
  ours: Contender;
  /** What the ratio is computed against: the library a user would pick instead. */
  anchor: Contender;
  /** More rows in the same comparison (a raw-driver ceiling, another mode...). */
  others?: Contender[];
  /**
   * `latency`: each op resolves to the latency it measured itself (ms), e.g. append to
   * reader woken. Serial only; the ratio is the anchor's p50 over ours (higher is better).
   * @default 'throughput'
   */
  metric?: 'throughput' | 'latency';
}

export type LoadShape = 'serial' | '64 in flight';
export const LOAD_SHAPES: readonly { shape: LoadShape; concurrency: number }[] = [
  { shape: 'serial', concurrency: 1 },
  { shape: '64 in flight', concurrency: 64 },
];

export interface Row {
  contract: string;
  operation: string;
  backend: string;
  library: string;
  load: LoadShape;
  opsPerSec: number;
  p50Us: number;
  p99Us: number;
  /** This row's ops/s divided by the anchor row's (the anchor itself is 1). */
  ratio: number;
  /** The library of the row the ratio is computed against. */
  comparedWith: string;
  /** `latency` rows rank by p50 (ratio = anchor p50 / this p50); ops/s is then samples per second. */
  metric: 'throughput' | 'latency';
  client?: string;
  role?: Role;
  /** Set when the contender could not run (its `Unsupported` message); no numbers then. */
  unsupported?: string;
  /** Ops/s of each round, in order: ratios per round pair rows measured moments apart. */
  roundOps?: number[];
  /** With the contender's `cpuMs`: its process's CPU time per op in the timed run, µs. */
  serverCpuUs?: number;
  /** The same run: that process's CPU time over wall time (1 = one core busy all along). */
  serverBusy?: number;
  /** The same run: this (load generator) process's CPU time over wall time. */
  clientBusy?: number;
  /** The anchor's server CPU per op over this row's (higher is better; the anchor is 1). */
  cpuRatio?: number;
}

interface Measurement {
  opsPerSec: number;
  p50Us: number;
  p99Us: number;
  serverCpuUs?: number;
  serverBusy?: number;
  clientBusy?: number;
}

export interface HarnessOptions {
  /** Measured time per contender per round, ms. */
  durationMs: number;
  /** Rounds; contenders alternate within each round and the median round counts. */
  rounds: number;
  /** Only these load shapes (latency comparisons run serially whatever this says). @default both */
  loads?: readonly LoadShape[];
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}

async function measure(
  op: Op,
  concurrency: number,
  durationMs: number,
  start: { i: number },
  cpuMs?: () => Promise<number>,
): Promise<Measurement> {
  const run = async (ms: number, record: number[] | undefined): Promise<number> => {
    let count = 0;
    const end = performance.now() + ms;
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        if (record === undefined) {
          // Throughput: no per-call timing, which would cost as much as a fast call.
          while (performance.now() < end) {
            for (let k = 0; k < 16; k++) await op(start.i++);
            count += 16;
          }
        } else {
          while (performance.now() < end) {
            const t0 = performance.now();
            await op(start.i++);
            record.push(performance.now() - t0);
          }
        }
      }),
    );
    return count;
  };
  await run(durationMs / 5, undefined); // warm-up
  // Asked between runs, when no call is in flight: the server is idle and answers at once.
  const server0 = await cpuMs?.();
  const client0 = process.cpuUsage();
  const began = performance.now();
  const count = await run(durationMs, undefined);
  const elapsed = performance.now() - began;
  const client = process.cpuUsage(client0);
  const server1 = await cpuMs?.();
  const cpu =
    server0 === undefined || server1 === undefined
      ? {}
      : {
          serverCpuUs: ((server1 - server0) * 1000) / count,
          serverBusy: (server1 - server0) / elapsed,
          clientBusy: (client.user + client.system) / 1000 / elapsed,
        };
  const latencies: number[] = [];
  await run(durationMs / 2, latencies);
  const sorted = Float64Array.from(latencies).sort();
  return {
    opsPerSec: (count / elapsed) * 1000,
    p50Us: percentile(sorted, 0.5) * 1000,
    p99Us: percentile(sorted, 0.99) * 1000,
    ...cpu,
  };
}

function medianByP50(ms: Measurement[]): Measurement {
  const sorted = [...ms].sort((a, b) => a.p50Us - b.p50Us);
  return sorted[Math.floor(sorted.length / 2)]!;
}

/** The median round by ops/s; its server CPU per op is the median of the rounds' own. */
function median(ms: Measurement[]): Measurement {
  const sorted = [...ms].sort((a, b) => a.opsPerSec - b.opsPerSec);
  const m = sorted[Math.floor(sorted.length / 2)]!;
  const cpu = ms.map((r) => r.serverCpuUs).filter((v) => v !== undefined);
  if (cpu.length !== ms.length) return m;
  return { ...m, serverCpuUs: cpu.sort((a, b) => a - b)[Math.floor(cpu.length / 2)]! };
}

/** Serial samples of an op that measures its own latency (ms), for `durationMs`. */
async function sampleLatency(op: Op, durationMs: number, start: { i: number }): Promise<Measurement> {
  const samples: number[] = [];
  const began = performance.now();
  const end = began + durationMs;
  await op(start.i++); // warm-up
  while (performance.now() < end || samples.length < 5) samples.push((await op(start.i++)) as number);
  const sorted = Float64Array.from(samples).sort();
  return {
    opsPerSec: (samples.length / (performance.now() - began)) * 1000,
    p50Us: percentile(sorted, 0.5) * 1000,
    p99Us: percentile(sorted, 0.99) * 1000,
  };
}

/** Runs a comparison under every load shape; contenders alternate so drift hits all alike. */
export async function runComparison(c: Comparison, options: HarnessOptions, log: (line: string) => void): Promise<Row[]> {
  const all = [c.anchor, c.ours, ...(c.others ?? [])];
  const contenders: Contender[] = [];
  const ops: Op[] = [];
  const unsupported = new Map<Contender, string>();
  for (const k of all) {
    try {
      ops.push(await k.setup());
      contenders.push(k);
    } catch (err) {
      if (!(err instanceof Unsupported) || k === c.anchor) throw err;
      unsupported.set(k, err.message);
    }
  }
  const rows: Row[] = [];
  const latency = c.metric === 'latency';
  try {
    const shapes = latency ? LOAD_SHAPES.slice(0, 1) : LOAD_SHAPES.filter((l) => options.loads?.includes(l.shape) ?? true);
    for (const { shape, concurrency } of shapes) {
      const results: Measurement[][] = contenders.map(() => []);
      const counters = contenders.map(() => ({ i: 0 }));
      for (let round = 0; round < options.rounds; round++) {
        for (let k = 0; k < contenders.length; k++) {
          await contenders[k]!.reset?.();
          results[k]!.push(
            latency
              ? await sampleLatency(ops[k]!, options.durationMs, counters[k]!)
              : await measure(ops[k]!, concurrency, options.durationMs, counters[k]!, contenders[k]!.cpuMs?.bind(contenders[k])),
          );
        }
      }
      const medians = results.map(latency ? medianByP50 : median);
      const anchor = medians[0]!;
      for (const k of all) {
        const i = contenders.indexOf(k);
        const reason = unsupported.get(k);
        const tags = { ...(k.client && { client: k.client }), ...(k.role && { role: k.role }) };
        const row = {
          contract: c.contract,
          operation: c.operation,
          backend: c.backend,
          library: k.library,
          load: shape,
          comparedWith: c.anchor.library,
          metric: latency ? ('latency' as const) : ('throughput' as const),
          ...tags,
        };
        if (reason !== undefined) {
          rows.push({ ...row, opsPerSec: 0, p50Us: 0, p99Us: 0, ratio: 0, unsupported: reason });
          continue;
        }
        const m = medians[i]!;
        const round2 = (v: number) => Math.round(v * 100) / 100;
        const cpu =
          m.serverCpuUs === undefined
            ? {}
            : {
                serverCpuUs: Math.round(m.serverCpuUs * 10) / 10,
                serverBusy: round2(m.serverBusy!),
                clientBusy: round2(m.clientBusy!),
                ...(anchor.serverCpuUs !== undefined && m.serverCpuUs > 0 && { cpuRatio: round2(anchor.serverCpuUs / m.serverCpuUs) }),
              };
        rows.push({
          ...row,
          opsPerSec: Math.round(m.opsPerSec),
          p50Us: Math.round(m.p50Us * 10) / 10,
          p99Us: Math.round(m.p99Us * 10) / 10,
          ratio: Math.round((latency ? anchor.p50Us / m.p50Us : m.opsPerSec / anchor.opsPerSec) * 100) / 100,
          ...cpu,
          ...(!latency && { roundOps: results[i]!.map((r) => Math.round(r.opsPerSec)) }),
        });
      }
      log(`  ${c.contract} ${c.operation} [${c.backend}, ${shape}] done`);
    }
  } finally {
    for (const k of all) await k.teardown?.();
  }
  return rows;
}

/**
 * The median over rounds of `a`'s ops/s over `b`'s in the same round, with the lowest and
 * highest: on a machine whose load drifts, rows measured moments apart compare best.
 */
export function pairedRatio(a: Row, b: Row): { median: number; min: number; max: number } | undefined {
  const x = a.roundOps;
  const y = b.roundOps;
  if (!x || !y || x.length !== y.length || x.length === 0 || y.some((v) => v <= 0)) return undefined;
  const ratios = x.map((v, i) => v / y[i]!).sort((p, q) => p - q);
  return { median: ratios[Math.floor(ratios.length / 2)]!, min: ratios[0]!, max: ratios[ratios.length - 1]! };
}

/** A fixed-width table of rows. */
export function formatTable(rows: Row[]): string {
  const head = ['contract', 'operation', 'backend', 'library', 'load', 'ops/s', 'p50 µs', 'p99 µs', 'ratio'];
  // Latency rows: ops/s is only how many samples were taken; the ratio compares p50.
  const body = rows.map((r) =>
    r.unsupported !== undefined
      ? [r.contract, r.operation, r.backend, r.library, r.load, '-', '-', '-', r.unsupported]
      : [
          r.contract,
          r.operation,
          r.backend,
          r.library,
          r.load,
          r.metric === 'latency' ? '-' : r.opsPerSec.toLocaleString('en-US'),
          r.p50Us.toFixed(1),
          r.p99Us.toFixed(1),
          r.library === r.comparedWith ? '1.00' : `${r.ratio.toFixed(2)}x${r.metric === 'latency' ? ' (p50)' : ''}`,
        ],
  );
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => (i >= 5 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join(' | ')} |`;
  return [
    line(head),
    `|${widths.map((w, i) => (i >= 5 ? `${'-'.repeat(w + 1)}:` : '-'.repeat(w + 2))).join('|')}|`,
    ...body.map(line),
  ].join('\n');
}
