import type { Row } from './harness.js';

/**
 * The server side of throughput rows whose contender reports its process's CPU time (the
 * Durable Streams servers, each in a child process): CPU time per op and its ratio to the
 * anchor's, beside the ops/s ratio. On a small machine the load generator can be the limit
 * (its `client busy` near 1 core): the ops/s ratio then says little about the server, while
 * its CPU time per op is what the server controls. A store's database (PostgreSQL, Redis)
 * is another process: its CPU time is not in the server's.
 */
export function formatServerCpu(rows: readonly Row[]): string | undefined {
  const cpuRows = rows.filter((r) => r.serverCpuUs !== undefined);
  if (cpuRows.length === 0) return undefined;
  const head = ['operation', 'backend', 'library', 'load', 'ops/s', 'ratio', 'server CPU µs/op', 'CPU ratio', 'server busy', 'client busy'];
  const body = cpuRows.map((r) => [
    r.operation,
    r.backend,
    r.library,
    r.load,
    r.opsPerSec.toLocaleString('en-US'),
    r.library === r.comparedWith ? '1.00' : `${r.ratio.toFixed(2)}x`,
    r.serverCpuUs!.toFixed(1),
    r.library === r.comparedWith ? '1.00' : r.cpuRatio === undefined ? '-' : `${r.cpuRatio.toFixed(2)}x`,
    r.serverBusy!.toFixed(2),
    r.clientBusy!.toFixed(2),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => (i >= 4 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join(' | ')} |`;
  return [
    line(head),
    `|${widths.map((w, i) => (i >= 4 ? `${'-'.repeat(w + 1)}:` : '-'.repeat(w + 2))).join('|')}|`,
    ...body.map(line),
  ].join('\n');
}
