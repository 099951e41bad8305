import { describe, expect, it } from 'vitest';
import { formatTable, runComparison, type Comparison } from '../src/harness.js';

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
});
