import type { Latency, PruneRow } from './measure.js';
import type { StreamScaleRow } from './streams.js';

/** One operation on one backend at one number of live keys per contract. */
export interface ScaleRow extends Latency {
  backend: string;
  operation: string;
  /** Live keys per contract. */
  size: number;
  /** p50 over the p50 at the smallest size of the run (the goal: at most 1.2). */
  p50Ratio: number;
  p99Ratio: number;
  /** Untimed bulk load up to this size, ms. */
  loadMs: number;
  /** What the backend held after loading (file, schema, Redis used_memory, or the heap). */
  backendBytes: number | null;
}

/** Goal: p50 at the largest size within 1.2x of the smallest; prune within 2x. */
export const P50_GOAL = 1.2;
export const PRUNE_GOAL = 2;

function table(head: string[], body: string[][], numericFrom: number): string {
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) =>
    `| ${cells.map((c, i) => (i >= numericFrom ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join(' | ')} |`;
  const rule = `|${widths.map((w, i) => (i >= numericFrom ? `${'-'.repeat(w + 1)}:` : '-'.repeat(w + 2))).join('|')}|`;
  return [line(head), rule, ...body.map(line)].join('\n');
}

const exp = (n: number) => `10^${Math.round(Math.log10(n))}`;

export function formatScale(rows: ScaleRow[]): string {
  return table(
    ['backend', 'operation', 'live keys', 'p50 µs', 'p99 µs', 'p50 / smallest', 'p99 / smallest'],
    rows.map((r) => [
      r.backend,
      r.operation,
      exp(r.size),
      r.p50Us.toFixed(1),
      r.p99Us.toFixed(1),
      `${r.p50Ratio.toFixed(2)}x${r.p50Ratio > P50_GOAL ? ' (over)' : ''}`,
      `${r.p99Ratio.toFixed(2)}x`,
    ]),
    2,
  );
}

export function formatPrune(rows: PruneRow[]): string {
  return table(
    [
      'backend',
      'live',
      'expired',
      'prune ms',
      'prune / smallest',
      'foreground',
      'its p99 µs (no prune)',
      'its p50 / p99 / max µs during prune',
      'same loop, no prune',
    ],
    rows.map((r) => {
      const first = rows.find((x) => x.backend === r.backend)!;
      const ratio = r.pruneMs / first.pruneMs;
      return [
        `${r.backend}${r.inWorker ? ' (prune in worker)' : ''}`,
        exp(r.live),
        String(r.expired),
        r.pruneMs.toFixed(1),
        `${ratio.toFixed(2)}x${ratio > PRUNE_GOAL ? ' (over)' : ''}`,
        r.fgOperation ?? 'session get',
        r.baselineP99Us.toFixed(1),
        `${r.fg.p50Us.toFixed(1)} / ${r.fg.p99Us.toFixed(1)} / ${r.fg.maxUs.toFixed(1)}`,
        r.fgIdle ? `${r.fgIdle.p50Us.toFixed(1)} / ${r.fgIdle.p99Us.toFixed(1)} / ${r.fgIdle.maxUs.toFixed(1)}` : '-',
      ];
    }),
    1,
  );
}

export function formatStreams(rows: StreamScaleRow[]): string {
  return table(
    ['backend', 'case', 'operation', 'p50 µs', 'p99 µs', 'p50 / small case'],
    rows.map((r) => [
      r.backend,
      r.case,
      r.operation,
      r.p50Us.toFixed(1),
      r.p99Us.toFixed(1),
      `${r.p50Ratio.toFixed(2)}x${r.p50Ratio > P50_GOAL ? ' (over)' : ''}`,
    ]),
    3,
  );
}
