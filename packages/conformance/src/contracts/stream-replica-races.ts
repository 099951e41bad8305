import type { StreamStore } from '@stowage/core';
import { describe, expect, it } from 'vitest';
import { opener, type ConformanceOptions, type StoreFactory } from '../context.js';
import { fulfilled } from '../helpers.js';
import { raceOnReplicas, twoReplicas } from '../replicas.js';
import { msgs, readAll, TEXT } from './streams/fixtures.js';

/** Appends raced across two instances on one namespace (see `replica-races.ts`). */
export function streamReplicaTests(factory: StoreFactory<StreamStore>, options: ConformanceOptions): void {
  const open = opener(factory, options);
  describe('replicas (two instances on one namespace)', () => {
    it('100 appends split over two replicas: each appended once, at distinct increasing offsets', async () => {
      const replicas = await twoReplicas(await open());
      await replicas[0].create('s', { contentType: TEXT });
      const results = fulfilled(await raceOnReplicas(replicas, 100, (s, i) => s.append('s', msgs(`m${i}`))));
      expect(results).toHaveLength(100);
      expect(new Set(results.map((r) => r.nextOffset)).size).toBe(100);
      const read = await readAll(replicas[1], 's');
      expect([...read].sort()).toEqual(Array.from({ length: 100 }, (_, i) => `m${i}`).sort());
      // The order read is the order of the offsets the appends were given.
      const byOffset = results.map((r, i) => [r.nextOffset, `m${i}`] as const).sort(([a], [b]) => (a < b ? -1 : 1));
      expect(read).toEqual(byOffset.map(([, m]) => m));
    });

    it('100 appends of one producer seq split over two replicas: appended once', async () => {
      const replicas = await twoReplicas(await open());
      await replicas[0].create('s', { contentType: TEXT });
      const producer = { id: 'producer-1', epoch: 0, seq: 0 };
      const results = fulfilled(await raceOnReplicas(replicas, 100, (s) => s.append('s', msgs('once'), { producer })));
      expect(results).toHaveLength(100);
      expect(results.filter((r) => !r.duplicate)).toHaveLength(1);
      expect(await readAll(replicas[1], 's')).toEqual(['once']);
    });
  });
}
