import { describe, expect, it } from 'vitest';
import { clientRatios, formatClientRatios } from '../src/client-ratios.js';
import { formatTable, runComparison, Unsupported, type Comparison } from '../src/harness.js';

describe('bench harness', () => {
  it('measures every contender under both load shapes and gives ratios against the anchor', async () => {
    const slow = async () => new Promise((r) => setImmediate(r));
    const fast = async () => undefined;
    const resets: string[] = [];
    const c: Comparison = {
      contract: 'X',
      operation: 'op',
      backend: 'memory',
      anchor: { library: 'theirs', setup: async () => slow, reset: async () => void resets.push('theirs') },
      ours: { library: 'stowage', setup: async () => fast },
    };
    const rows = await runComparison(c, { durationMs: 60, rounds: 1 }, () => {});
    expect(rows.map((r) => `${r.library}/${r.load}`)).toEqual([
      'theirs/serial',
      'stowage/serial',
      'theirs/64 in flight',
      'stowage/64 in flight',
    ]);
    expect(resets).toHaveLength(2);
    for (const r of rows) {
      expect(r.opsPerSec).toBeGreaterThan(0);
      expect(r.p99Us).toBeGreaterThanOrEqual(r.p50Us);
      expect(r.comparedWith).toBe('theirs');
    }
    expect(rows[0]!.ratio).toBe(1);
    // A function that never yields to the event loop is much faster than one that does.
    expect(rows[1]!.ratio).toBeGreaterThan(2);
    const table = formatTable(rows);
    expect(table.split('\n')).toHaveLength(6);
    expect(table).toContain('| stowage ');
  });

  it('ranks latency comparisons by p50, serially, and marks their rows', async () => {
    const c: Comparison = {
      contract: 'StreamStore',
      operation: 'wake',
      backend: 'memory',
      metric: 'latency',
      anchor: { library: 'theirs', setup: async () => async () => 4 },
      ours: { library: 'stowage', setup: async () => async () => 1 },
    };
    const rows = await runComparison(c, { durationMs: 20, rounds: 3 }, () => {});
    expect(rows.map((r) => `${r.library}/${r.load}/${r.metric}`)).toEqual(['theirs/serial/latency', 'stowage/serial/latency']);
    expect(rows[0]!.p50Us).toBe(4000);
    expect(rows[1]!.p50Us).toBe(1000);
    expect(rows[1]!.ratio).toBe(4);
    expect(formatTable(rows)).toContain('4.00x (p50)');
  });

  it('prints a contender that cannot run as its reason, and ratios per client against the rows of that client', async () => {
    const op = async () => undefined;
    let tornDown = 0;
    const c: Comparison = {
      contract: 'X',
      operation: 'op',
      backend: 'redis',
      anchor: { library: 'theirs (a)', client: 'a', role: 'anchor', setup: async () => op },
      ours: { library: 'stowage (a)', client: 'a', role: 'ours', setup: async () => op },
      others: [
        { library: 'raw a (ceiling)', client: 'a', role: 'ceiling', setup: async () => op },
        {
          library: 'theirs (b)',
          client: 'b',
          role: 'anchor',
          setup: async () => {
            throw new Unsupported('theirs cannot run on b');
          },
          teardown: async () => void tornDown++,
        },
        { library: 'stowage (b)', client: 'b', role: 'ours', setup: async () => op },
      ],
    };
    const rows = await runComparison(c, { durationMs: 20, rounds: 1 }, () => {});
    expect(tornDown).toBe(1);
    expect(rows).toHaveLength(10);
    const cannot = rows.filter((r) => r.unsupported !== undefined);
    expect(cannot.map((r) => `${r.library}/${r.load}/${r.unsupported}`)).toEqual([
      'theirs (b)/serial/theirs cannot run on b',
      'theirs (b)/64 in flight/theirs cannot run on b',
    ]);
    expect(cannot.every((r) => r.opsPerSec === 0 && r.client === 'b' && r.role === 'anchor')).toBe(true);
    const line = formatTable(rows)
      .split('\n')
      .find((l) => l.includes('theirs (b)'))!;
    expect(line.split('|').map((cell) => cell.trim())).toEqual([
      '',
      'X',
      'op',
      'redis',
      'theirs (b)',
      'serial',
      '-',
      '-',
      '-',
      'theirs cannot run on b',
      '',
    ]);

    const ratios = clientRatios(rows);
    expect(ratios.map((r) => `${r.client}/${r.load}/${r.anchor?.library}/${r.anchorElsewhere}/${r.ceiling?.library}`)).toEqual([
      'a/serial/theirs (a)/false/raw a (ceiling)',
      'b/serial/theirs (a)/true/undefined',
      'a/64 in flight/theirs (a)/false/raw a (ceiling)',
      'b/64 in flight/theirs (a)/true/undefined',
    ]);
    const table = formatClientRatios(ratios, (r) => (r.anchorElsewhere ? 'no anchor here' : undefined));
    expect(table.split('\n')).toHaveLength(6);
    expect(table).toContain('theirs (a) (other client)');
    expect(table).toContain('no anchor here');
  });
});
