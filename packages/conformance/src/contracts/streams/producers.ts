import type { StreamAppendResult } from '@stowage/core';
import { describe, expect, it } from 'vitest';
import { expectCode, fulfilled, race } from '../../helpers.js';
import { msgs, readAll, type StreamOpen, TEXT } from './fixtures.js';

export function streamProducerTests(open: StreamOpen): void {
  describe('idempotent producers', () => {
    const P = 'producer-1';

    it('accepts seq 0, 1, 2 of a new producer and reports its state', async () => {
      const { store } = await open();
      await store.create('s', { contentType: TEXT });
      for (let seq = 0; seq < 3; seq++) {
        const r = await store.append('s', msgs(`m${seq}`), { producer: { id: P, epoch: 0, seq } });
        expect(r).toMatchObject({ duplicate: false, producer: { epoch: 0, seq } });
      }
      expect(await readAll(store, 's')).toEqual(['m0', 'm1', 'm2']);
    });

    it('a retried seq is a duplicate: success, nothing appended, the highest seq reported', async () => {
      const { store } = await open();
      await store.create('s', { contentType: TEXT });
      await store.append('s', msgs('a'), { producer: { id: P, epoch: 0, seq: 0 } });
      const tail = (await store.append('s', msgs('b'), { producer: { id: P, epoch: 0, seq: 1 } })).nextOffset;
      for (const seq of [0, 1]) {
        const r = await store.append('s', msgs('dup'), { producer: { id: P, epoch: 0, seq } });
        expect(r).toEqual({ nextOffset: tail, duplicate: true, closed: false, producer: { epoch: 0, seq: 1 } });
      }
      expect(await readAll(store, 's')).toEqual(['a', 'b']);
    });

    it('a gap is CONFLICT with the expected and received seq', async () => {
      const { store } = await open();
      await store.create('s', { contentType: TEXT });
      await store.append('s', msgs('a'), { producer: { id: P, epoch: 0, seq: 0 } });
      const err = await expectCode(store.append('s', msgs('x'), { producer: { id: P, epoch: 0, seq: 2 } }), 'CONFLICT');
      expect(err.details, 'StreamStore.append sequence gap CONFLICT: err.details').toMatchObject({ expectedSeq: 1, receivedSeq: 2 });
      expect(await readAll(store, 's')).toEqual(['a']);
    });

    it('a new producer must start at seq 0', async () => {
      const { store } = await open();
      await store.create('s', { contentType: TEXT });
      const err = await expectCode(store.append('s', msgs('x'), { producer: { id: P, epoch: 0, seq: 1 } }), 'CONFLICT');
      expect(err.details, 'StreamStore.append sequence gap CONFLICT: err.details').toMatchObject({ expectedSeq: 0, receivedSeq: 1 });
    });

    it('a stale epoch is FENCED with the current epoch; a new epoch starts at seq 0', async () => {
      const { store } = await open();
      await store.create('s', { contentType: TEXT });
      await store.append('s', msgs('a'), { producer: { id: P, epoch: 0, seq: 0 } });
      await store.append('s', msgs('b'), { producer: { id: P, epoch: 2, seq: 0 } });
      const fenced = await expectCode(store.append('s', msgs('zombie'), { producer: { id: P, epoch: 1, seq: 0 } }), 'FENCED');
      expect(fenced.details, 'StreamStore.append FENCED: err.details').toMatchObject({ currentEpoch: 2 });
      await expectCode(store.append('s', msgs('x'), { producer: { id: P, epoch: 3, seq: 1 } }), 'INVALID_ARGUMENT');
      await store.append('s', msgs('c'), { producer: { id: P, epoch: 3, seq: 0 } });
      expect(await readAll(store, 's')).toEqual(['a', 'b', 'c']);
    });

    it('producers are independent of each other and of streams', async () => {
      const { store } = await open();
      await store.create('s', { contentType: TEXT });
      await store.create('t', { contentType: TEXT });
      await store.append('s', msgs('a0'), { producer: { id: 'a', epoch: 0, seq: 0 } });
      await store.append('s', msgs('b0'), { producer: { id: 'b', epoch: 5, seq: 0 } });
      await store.append('s', msgs('a1'), { producer: { id: 'a', epoch: 0, seq: 1 } });
      await store.append('t', msgs('t0'), { producer: { id: 'a', epoch: 0, seq: 0 } });
      expect(await readAll(store, 's')).toEqual(['a0', 'b0', 'a1']);
      expect(await readAll(store, 't')).toEqual(['t0']);
    });

    it('producer checks come before the seq check: a retry with an old seq is still a duplicate', async () => {
      const { store } = await open();
      await store.create('s', { contentType: TEXT });
      await store.append('s', msgs('a'), { producer: { id: P, epoch: 0, seq: 0 }, seq: 'x1' });
      const r = await store.append('s', msgs('a'), { producer: { id: P, epoch: 0, seq: 0 }, seq: 'x1' });
      expect(r.duplicate).toBe(true);
    });

    it('on a closed stream: a retry is a duplicate, a new seq is CONFLICT, a stale epoch is FENCED', async () => {
      const { store } = await open();
      await store.create('s', { contentType: TEXT });
      await store.append('s', msgs('a'), { producer: { id: P, epoch: 1, seq: 0 } });
      await store.append('s', msgs('last'), { producer: { id: P, epoch: 1, seq: 1 }, close: true });
      expect(await store.append('s', msgs('retry'), { producer: { id: P, epoch: 1, seq: 1 }, close: true })).toMatchObject({
        duplicate: true,
        closed: true,
      });
      const conflict = await expectCode(store.append('s', msgs('x'), { producer: { id: P, epoch: 1, seq: 2 } }), 'CONFLICT');
      expect(conflict.details, 'StreamStore.append to a closed stream CONFLICT: err.details').toMatchObject({ closed: true });
      await expectCode(store.append('s', msgs('x'), { producer: { id: 'other', epoch: 0, seq: 0 } }), 'CONFLICT');
      await expectCode(store.append('s', msgs('x'), { producer: { id: P, epoch: 0, seq: 5 } }), 'FENCED');
      expect(await readAll(store, 's')).toEqual(['a', 'last']);
    });

    it('closeStream with a producer takes part in the producer rules', async () => {
      const { store } = await open();
      await store.create('s', { contentType: TEXT });
      await store.append('s', msgs('a'), { producer: { id: P, epoch: 0, seq: 0 } });
      expect(await store.closeStream('s', { producer: { id: P, epoch: 0, seq: 1 } })).toMatchObject({
        alreadyClosed: false,
        duplicate: false,
        producer: { epoch: 0, seq: 1 },
      });
      expect(await store.closeStream('s', { producer: { id: P, epoch: 0, seq: 1 } })).toMatchObject({ duplicate: true });
      await expectCode(store.closeStream('s', { producer: { id: P, epoch: 0, seq: 2 } }), 'CONFLICT');
      await expectCode(store.closeStream('s', { producer: { id: 'b', epoch: 0, seq: 0 } }), 'CONFLICT');
      expect(await store.closeStream('s')).toMatchObject({ alreadyClosed: true });
    });

    it('100 parallel appends with the same producer seq append once', async () => {
      const { store } = await open();
      await store.create('s', { contentType: TEXT });
      const results = fulfilled(await race(100, () => store.append('s', msgs('once'), { producer: { id: P, epoch: 0, seq: 0 } })));
      expect(results).toHaveLength(100);
      expect(results.filter((r: StreamAppendResult) => !r.duplicate)).toHaveLength(1);
      expect(await readAll(store, 's')).toEqual(['once']);
    });

    it('a producer pipelining seq 0..29 in parallel gets each appended once, the rest refused without loss', async () => {
      const { store } = await open();
      await store.create('s', { contentType: TEXT });
      // Sends in order but without waiting, as a pipelining client does; retries what was refused.
      let pending = Array.from({ length: 30 }, (_, seq) => seq);
      for (let round = 0; round < 60 && pending.length > 0; round++) {
        const results = await Promise.allSettled(
          pending.map((seq) => store.append('s', msgs(`m${seq}`), { producer: { id: P, epoch: 0, seq } })),
        );
        pending = pending.filter((_, i) => results[i]!.status === 'rejected');
      }
      expect(pending).toEqual([]);
      expect(await readAll(store, 's')).toEqual(Array.from({ length: 30 }, (_, i) => `m${i}`));
    });
  });
}
