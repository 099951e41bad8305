import type { StreamStore } from '@stowage/core';
import { describe, expect, it } from 'vitest';
import { bytes, expectCode } from '../../helpers.js';
import { HOUR, msgs, readAll, START, type StreamOpen, TEXT, texts } from './fixtures.js';

export function streamForkTests(open: StreamOpen): void {
  describe('forks', () => {
    async function source(store: StreamStore, name = 'src') {
      await store.create(name, { contentType: TEXT }, { messages: msgs('a', 'b', 'c') });
      const r = await store.read(name, '-1');
      return r.messages.map((m) => m.offset);
    }

    it('a fork at the default offset reads all the source had, and records its origin', async () => {
      const { store } = await open();
      const offsets = await source(store);
      const f = await store.create('fork', { contentType: TEXT }, { fork: { from: 'src' } });
      expect(f.status).toBe('created');
      expect(f.info).toMatchObject({ forkedFrom: 'src', forkOffset: offsets[2], nextOffset: offsets[2] });
      expect(await readAll(store, 'fork')).toEqual(['a', 'b', 'c']);
    });

    it('a fork at an offset reads the source up to it, then its own messages, offsets continuing', async () => {
      const { store } = await open();
      const offsets = await source(store);
      await store.create('fork', { contentType: TEXT }, { fork: { from: 'src', offset: offsets[0] } });
      const r = await store.append('fork', msgs('own'));
      expect(r.nextOffset).toBe(offsets[1]);
      expect(await readAll(store, 'fork')).toEqual(['a', 'own']);
      expect(texts(await store.read('fork', offsets[0]!))).toEqual(['own']);
      expect(await readAll(store, 'src')).toEqual(['a', 'b', 'c']);
    });

    it('a fork at the start offset inherits nothing', async () => {
      const { store } = await open();
      await source(store);
      await store.create('fork', { contentType: TEXT }, { fork: { from: 'src', offset: START } });
      expect(await readAll(store, 'fork')).toEqual([]);
      expect((await store.head('fork'))!.nextOffset).toBe(START);
    });

    it('the source and the fork grow independently', async () => {
      const { store } = await open();
      await source(store);
      await store.create('fork', { contentType: TEXT }, { fork: { from: 'src' } });
      await store.append('src', msgs('src-only'));
      await store.append('fork', msgs('fork-only'));
      expect(await readAll(store, 'src')).toEqual(['a', 'b', 'c', 'src-only']);
      expect(await readAll(store, 'fork')).toEqual(['a', 'b', 'c', 'fork-only']);
    });

    it('inherits the content type when none is given; another one is CONFLICT', async () => {
      const { store } = await open();
      await store.create('src', { contentType: 'application/json' }, { messages: msgs('1') });
      const f = await store.create('f1', {}, { fork: { from: 'src' } });
      expect(f.info.contentType).toBe('application/json');
      await expectCode(store.create('f2', { contentType: TEXT }, { fork: { from: 'src' } }), 'CONFLICT');
      expect(await store.head('f2')).toBeUndefined();
      // The refused fork took no reference: deleting the source removes it at once.
      await store.delete('f1');
      await store.delete('src');
      expect((await store.create('src', { contentType: TEXT })).status).toBe('created');
    });

    it('a fork of a missing source is NOT_FOUND; an offset past its tail is INVALID_ARGUMENT', async () => {
      const { store } = await open();
      await expectCode(store.create('f', { contentType: TEXT }, { fork: { from: 'nope' } }), 'NOT_FOUND');
      await source(store);
      await expectCode(
        store.create('f', { contentType: TEXT }, { fork: { from: 'src', offset: '9999999999999999_9999999999999999' } }),
        'INVALID_ARGUMENT',
      );
      await expectCode(store.create('f', { contentType: TEXT }, { fork: { from: 'src', offset: 'garbage' } }), 'INVALID_ARGUMENT');
      expect(await store.head('f')).toBeUndefined();
    });

    it('a fork of a closed stream starts open', async () => {
      const { store } = await open();
      await source(store);
      await store.closeStream('src');
      const f = await store.create('fork', { contentType: TEXT }, { fork: { from: 'src' } });
      expect(f.info.closed).toBe(false);
      await store.append('fork', msgs('more'));
      expect(await readAll(store, 'fork')).toEqual(['a', 'b', 'c', 'more']);
    });

    it('inherits the source expiry unless it has its own, and lives on its own clock', async () => {
      const { store, clock } = await open();
      await store.create('src', { contentType: TEXT, ttlMs: 5000 }, { messages: msgs('a') });
      expect((await store.create('f1', {}, { fork: { from: 'src' } })).info.ttlMs).toBe(5000);
      expect((await store.create('f2', { ttlMs: HOUR }, { fork: { from: 'src' } })).info.ttlMs).toBe(HOUR);
      const at = clock.now() + HOUR;
      const f3 = await store.create('f3', { expiresAt: at }, { fork: { from: 'src' } });
      expect(f3.info).toMatchObject({ expiresAt: at });
      expect(f3.info.ttlMs).toBeUndefined();
      clock.advance(4000);
      await store.read('f1', '-1');
      clock.advance(4000);
      // The source expired (idle) but its forks still read its data.
      expect(await store.head('src')).toBeUndefined();
      expect(await readAll(store, 'f1')).toEqual(['a']);
      expect(await readAll(store, 'f2')).toEqual(['a']);
    });

    it('re-creating a fork with the same origin is idempotent; another offset or source is CONFLICT', async () => {
      const { store } = await open();
      const offsets = await source(store);
      await store.create('other', { contentType: TEXT });
      await store.create('fork', { contentType: TEXT }, { fork: { from: 'src', offset: offsets[1] } });
      expect((await store.create('fork', { contentType: TEXT }, { fork: { from: 'src', offset: offsets[1] } })).status).toBe('exists');
      expect((await store.create('fork', {}, { fork: { from: 'src' } })).status).toBe('exists');
      await expectCode(store.create('fork', { contentType: TEXT }, { fork: { from: 'src', offset: offsets[0] } }), 'CONFLICT');
      await expectCode(store.create('fork', { contentType: TEXT }, { fork: { from: 'other' } }), 'CONFLICT');
      await expectCode(store.create('fork', { contentType: TEXT }), 'CONFLICT');
      expect(await readAll(store, 'fork')).toEqual(['a', 'b']);
    });

    it('a sub-offset fork keeps a prefix of the next source message as its first own message', async () => {
      const { store } = await open();
      const offsets = await source(store);
      const f = await store.create(
        'fork',
        {},
        {
          fork: { from: 'src', offset: offsets[0], subOffset: 1, prefix: bytes('b-prefix') },
        },
      );
      expect(f.info).toMatchObject({ forkOffset: offsets[0], forkSubOffset: 1, nextOffset: offsets[1] });
      expect(await readAll(store, 'fork')).toEqual(['a', 'b-prefix']);
      const same = { fork: { from: 'src', offset: offsets[0], subOffset: 1, prefix: bytes('b-prefix') } };
      expect((await store.create('fork', {}, same)).status).toBe('exists');
      await expectCode(
        store.create('fork', {}, { fork: { from: 'src', offset: offsets[0], subOffset: 2, prefix: bytes('b') } }),
        'CONFLICT',
      );
      await expectCode(store.create('fork', {}, { fork: { from: 'src', offset: offsets[0] } }), 'CONFLICT');
    });

    it('a sub-offset needs a prefix and a source message after the offset', async () => {
      const { store } = await open();
      const offsets = await source(store);
      await expectCode(store.create('f', {}, { fork: { from: 'src', offset: offsets[0], subOffset: 1 } }), 'INVALID_ARGUMENT');
      await expectCode(
        store.create('f', {}, { fork: { from: 'src', offset: offsets[2], subOffset: 1, prefix: bytes('x') } }),
        'INVALID_ARGUMENT',
      );
      await expectCode(store.create('f', {}, { fork: { from: 'src', subOffset: -1, prefix: bytes('x') } }), 'INVALID_ARGUMENT');
      await expectCode(store.create('f', {}, { fork: { from: 'src', prefix: bytes('x') } }), 'INVALID_ARGUMENT');
      expect(await store.head('f')).toBeUndefined();
    });

    it('forks have their own producers and appends; the source keeps its own', async () => {
      const { store } = await open();
      await store.create('src', { contentType: TEXT });
      await store.append('src', msgs('s0'), { producer: { id: 'p', epoch: 0, seq: 0 } });
      await store.create('fork', {}, { fork: { from: 'src' } });
      expect((await store.append('fork', msgs('f0'), { producer: { id: 'p', epoch: 0, seq: 0 } })).duplicate).toBe(false);
      expect((await store.append('src', msgs('s1'), { producer: { id: 'p', epoch: 0, seq: 1 } })).duplicate).toBe(false);
      await store.closeStream('fork');
      await store.append('src', msgs('s2'));
      expect(await readAll(store, 'fork')).toEqual(['s0', 'f0']);
      expect(await readAll(store, 'src')).toEqual(['s0', 's1', 's2']);
    });

    it('reads through three levels, forking inside inherited data', async () => {
      const { store } = await open();
      const offsets = await source(store, 'a');
      await store.create('b', {}, { fork: { from: 'a' } });
      await store.append('b', msgs('b1', 'b2'));
      await store.create('c', {}, { fork: { from: 'b', offset: offsets[1] } });
      await store.append('c', msgs('c1'));
      await store.create('d', {}, { fork: { from: 'c' } });
      await store.append('d', msgs('d1'));
      expect(await readAll(store, 'b')).toEqual(['a', 'b', 'c', 'b1', 'b2']);
      expect(await readAll(store, 'c')).toEqual(['a', 'b', 'c1']);
      expect(await readAll(store, 'd')).toEqual(['a', 'b', 'c1', 'd1']);
      expect(texts(await store.read('d', offsets[0]!))).toEqual(['b', 'c1', 'd1']);
      const page = await store.read('d', '-1', { maxMessages: 2 });
      expect(texts(page)).toEqual(['a', 'b']);
      expect(texts(await store.read('d', page.nextOffset))).toEqual(['c1', 'd1']);
    });

    it('a deleted source with forks is GONE to direct use, blocks its name, and still feeds its forks', async () => {
      const { store } = await open();
      await source(store);
      await store.create('fork', {}, { fork: { from: 'src' } });
      expect(await store.delete('src')).toBe(true);
      expect(await store.head('src')).toBeUndefined();
      await expectCode(store.read('src', '-1'), 'GONE');
      await expectCode(store.append('src', msgs('x')), 'GONE');
      await expectCode(store.closeStream('src'), 'GONE');
      await expectCode(store.delete('src'), 'GONE');
      await expectCode(store.create('src', { contentType: TEXT }), 'CONFLICT');
      await expectCode(store.create('fork2', {}, { fork: { from: 'src' } }), 'CONFLICT');
      expect(await readAll(store, 'fork')).toEqual(['a', 'b', 'c']);
    });

    it('deleting the last fork removes a deleted source, through every level', async () => {
      const { store } = await open();
      await source(store, 'a');
      await store.create('b', {}, { fork: { from: 'a' } });
      await store.create('c', {}, { fork: { from: 'b' } });
      await store.delete('a');
      await store.delete('b');
      expect(await readAll(store, 'c')).toEqual(['a', 'b', 'c']);
      await store.delete('c');
      expect((await store.create('a', { contentType: TEXT })).status).toBe('created');
      expect((await store.create('b', { contentType: TEXT })).status).toBe('created');
    });

    it('deleting the middle of a chain keeps the data its fork reads', async () => {
      const { store } = await open();
      await source(store, 'a');
      await store.create('b', {}, { fork: { from: 'a' } });
      await store.append('b', msgs('b1'));
      await store.create('c', {}, { fork: { from: 'b' } });
      await store.delete('b');
      expect(await readAll(store, 'c')).toEqual(['a', 'b', 'c', 'b1']);
      expect(await readAll(store, 'a')).toEqual(['a', 'b', 'c']);
    });

    it('deleting every fork keeps a live source alive', async () => {
      const { store } = await open();
      await source(store);
      for (let i = 0; i < 10; i++) await store.create(`f${i}`, {}, { fork: { from: 'src' } });
      for (let i = 0; i < 10; i++) await store.delete(`f${i}`);
      expect(await readAll(store, 'src')).toEqual(['a', 'b', 'c']);
      await store.delete('src');
      expect((await store.create('src', { contentType: TEXT })).status).toBe('created');
    });

    it('an expired source with a live fork is GONE; cleanup keeps it until the fork goes', async () => {
      const { store, clock } = await open();
      await store.create('src', { contentType: TEXT, ttlMs: 1000 }, { messages: msgs('a') });
      await store.create('fork', { contentType: TEXT, ttlMs: HOUR }, { fork: { from: 'src' } });
      clock.advance(1000);
      await expectCode(store.read('src', '-1'), 'GONE');
      await store.cleanupExpired();
      expect(await readAll(store, 'fork')).toEqual(['a']);
      await expectCode(store.create('src', { contentType: TEXT }), 'CONFLICT');
      await store.delete('fork');
      expect((await store.create('src', { contentType: TEXT })).status).toBe('created');
    });

    it('forks at every offset of a source read exactly that prefix', async () => {
      const { store } = await open();
      await store.create('src', { contentType: TEXT }, { messages: msgs('0', '1', '2', '3', '4') });
      const offsets = [START, ...(await store.read('src', '-1')).messages.map((m) => m.offset)];
      for (const [i, offset] of offsets.entries()) {
        await store.create(`f${i}`, {}, { fork: { from: 'src', offset } });
        expect(await readAll(store, `f${i}`)).toEqual(['0', '1', '2', '3', '4'].slice(0, i));
      }
    });
  });
}
