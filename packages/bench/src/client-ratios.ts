import { pairedRatio, type Row } from './harness.js';

/** One of our rows beside the anchor and the raw ceiling of its own client, from one comparison. */
export interface ClientRatio {
  operation: string;
  load: Row['load'];
  client: string;
  ours: Row;
  /** The anchor on the same client; else the comparison's anchor (`anchorElsewhere`). */
  anchor: Row | undefined;
  anchorElsewhere: boolean;
  ceiling: Row | undefined;
  references: Row[];
}

const measured = (r: Row | undefined): r is Row => r !== undefined && r.unsupported === undefined && r.opsPerSec > 0;

/** For each of our rows tagged with a client: its anchor and ceiling rows on that client. */
export function clientRatios(rows: readonly Row[]): ClientRatio[] {
  const out: ClientRatio[] = [];
  for (const ours of rows) {
    if (ours.role !== 'ours' || ours.client === undefined) continue;
    const same = rows.filter((r) => r.contract === ours.contract && r.operation === ours.operation && r.load === ours.load);
    const own = same.filter((r) => r.client === ours.client);
    const ownAnchor = own.find((r) => r.role === 'anchor');
    const anchorElsewhere = !measured(ownAnchor);
    out.push({
      operation: `${ours.contract} ${ours.operation}`,
      load: ours.load,
      client: ours.client,
      ours,
      anchor: anchorElsewhere ? same.find((r) => r.library === r.comparedWith) : ownAnchor,
      anchorElsewhere,
      ceiling: own.find((r) => r.role === 'ceiling'),
      references: own.filter((r) => r.role === 'reference'),
    });
  }
  return out;
}

/** `a` over `b`: the median of the ratios within each round where the rows have them, else of the median rounds. */
const ratio = (a: Row, b: Row | undefined) =>
  measured(a) && measured(b) ? (pairedRatio(a, b)?.median ?? a.opsPerSec / b.opsPerSec) : undefined;
const x = (v: number | undefined) => (v === undefined ? '-' : `${v.toFixed(2)}x`);
/** With the lowest and highest round's ratio. */
const xr = (a: Row, b: Row | undefined) => {
  const p = measured(a) && measured(b) ? pairedRatio(a, b) : undefined;
  return p === undefined ? x(ratio(a, b)) : `${p.median.toFixed(2)}x (${p.min.toFixed(2)}..${p.max.toFixed(2)})`;
};

/**
 * A table of our rows over their anchor and ceiling on the same client (the median of the
 * rounds' own ratios, lowest..highest round after it); `goal` adds a last
 * column (met / not met and why) where it has something to say about a row.
 */
export function formatClientRatios(list: readonly ClientRatio[], goal?: (r: ClientRatio) => string | undefined): string {
  const head = ['operation', 'load', 'client', 'ours ops/s', 'ours / anchor', 'anchor', 'ours / ceiling', 'ceiling', 'ours / other raw'];
  if (goal) head.push('goals');
  const body = list.map((r) => {
    const cells = [
      r.operation,
      r.load,
      r.client,
      r.ours.unsupported ?? r.ours.opsPerSec.toLocaleString('en-US'),
      xr(r.ours, r.anchor),
      r.anchor === undefined ? '-' : `${r.anchor.library}${r.anchorElsewhere ? ' (other client)' : ''}`,
      xr(r.ours, r.ceiling),
      r.ceiling?.library ?? '-',
      r.references.map((ref) => `${x(ratio(r.ours, ref))} ${ref.library}`).join('; ') || '-',
    ];
    if (goal) cells.push(goal(r) ?? '');
    return cells;
  });
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(head), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...body.map(line)].join('\n');
}

/** `ratio` of `r` over its anchor or ceiling, for goal checks. */
export const oursOver = (r: ClientRatio, to: 'anchor' | 'ceiling'): number | undefined => ratio(r.ours, r[to]);
