import { describe, expect, it } from 'vitest';
import type { ConformanceLimits } from '../../context.js';
import { ALL_BYTES, bytes, expectCode, filled, fulfilled, race } from '../../helpers.js';
import { msgs, readAll, START, type StreamOpen, TEXT, texts } from './fixtures.js';

export function streamAppendReadTests(open: StreamOpen, limits: ConformanceLimits): void {
  describe('append and read', () => {
    it('appends in order with strictly increasing, lexicographic offsets', async () => {
      const { store } = await open();
      await store.create('s', { contentType: TEXT });
      const offsets: string[] = [];
      for (let i = 0; i < 25; i++) offsets.push((await store.append('s', msgs(`m${i}`))).nextOffset);
      for (let i = 1; i < offsets.length; i++) expect(offsets[i]! > offsets[i - 1]!).toBe(true);
      for (const o of offsets) {
        expect(o).toMatch(/^\d{16}_\d{16}$/);
        expect(o).not.toMatch(/[,&=?/]/);
        expect(o === '-1' || o === 'now').toBe(false);
      }
      expect(await readAll(store, 's')).toEqual(Array.from({ length: 25 }, (_, i) => `m${i}`));
    });

    it('a batch is appended whole; each message gets its own offset', async () => {
      const { store } = await open();
      await store.create('s', { contentType: TEXT });
      const r = await store.append('s', msgs('a', 'b', 'c'));
      expect(r).toMatchObject({ duplicate: false, closed: false });
      const read = await store.read('s', '-1');
      expect(texts(read)).toEqual(['a', 'b', 'c']);
      expect(read.messages[2]!.offset).toBe(r.nextOffset);
      expect(new Set(read.messages.map((m) => m.offset)).size).toBe(3);
    });

    it('reading from each offset gives exactly what follows it', async () => {
      const { store } = await open();
      await store.create('s', { contentType: TEXT }, { messages: msgs('a', 'b', 'c', 'd') });
      const all = await store.read('s', '-1');
      expect(texts(await store.read('s', START))).toEqual(['a', 'b', 'c', 'd']);
      for (let i = 0; i < 4; i++) {
        expect(texts(await store.read('s', all.messages[i]!.offset))).toEqual(['a', 'b', 'c', 'd'].slice(i + 1));
      }
    });

    it('a read at the tail is empty and at the tail', async () => {
      const { store } = await open();
      const { info } = await store.create('s', { contentType: TEXT }, { messages: msgs('a') });
      const r = await store.read('s', info.nextOffset);
      expect(r).toMatchObject({ messages: [], nextOffset: info.nextOffset, atTail: true, closed: false });
      const empty = await store.create('e', { contentType: TEXT });
      expect(await store.read('e', '-1')).toMatchObject({ messages: [], nextOffset: START, atTail: true });
      expect(empty.info.nextOffset).toBe(START);
    });

    it('an offset past the tail or malformed is INVALID_ARGUMENT', async () => {
      const { store } = await open();
      await store.create('s', { contentType: TEXT }, { messages: msgs('a') });
      for (const bad of [
        '9999999999999999_9999999999999999',
        '0000000000000000_0000000000000002',
        'now',
        '',
        'abc',
        '-2',
        '0,1',
        '0000000000000000_000000000000000x',
      ]) {
        await expectCode(store.read('s', bad), 'INVALID_ARGUMENT');
      }
    });

    it('maxMessages and maxBytes page through a stream; a large message still comes alone', async () => {
      const { store } = await open();
      await store.create(
        's',
        { contentType: TEXT },
        {
          messages: [filled(10), filled(10), filled(3000), filled(10), filled(10)],
        },
      );
      const p1 = await store.read('s', '-1', { maxMessages: 2 });
      expect(p1.messages.map((m) => m.data.byteLength)).toEqual([10, 10]);
      expect(p1.atTail).toBe(false);
      const p2 = await store.read('s', p1.nextOffset, { maxBytes: 100 });
      expect(p2.messages.map((m) => m.data.byteLength)).toEqual([3000]);
      const p3 = await store.read('s', p2.nextOffset, { maxBytes: 15 });
      expect(p3.messages.map((m) => m.data.byteLength)).toEqual([10]);
      const p4 = await store.read('s', p3.nextOffset, { maxBytes: 20 });
      expect(p4.messages.map((m) => m.data.byteLength)).toEqual([10]);
      expect(p4.atTail).toBe(true);
    });

    it('round-trips all 256 byte values and a 1 MiB message', async () => {
      const { store } = await open();
      await store.create('s', { contentType: 'application/octet-stream' }, { messages: [ALL_BYTES] });
      const big = filled(1024 * 1024, 3);
      await store.append('s', [big]);
      const r = await store.read('s', '-1', { maxBytes: 2 * 1024 * 1024 });
      expect(Array.from(r.messages[0]!.data)).toEqual(Array.from(ALL_BYTES));
      expect(Buffer.compare(Buffer.from(r.messages[1]!.data), Buffer.from(big))).toBe(0);
    });

    it('keeps its own copy of appended bytes', async () => {
      const { store } = await open();
      await store.create('s', { contentType: TEXT });
      const m = bytes('keep');
      await store.append('s', [m]);
      m.fill(0);
      const r = await store.read('s', '-1');
      r.messages[0]!.data.fill(0);
      expect(await readAll(store, 's')).toEqual(['keep']);
    });

    it('a message at the size limit is accepted; one byte more is PAYLOAD_TOO_LARGE and nothing is appended', async () => {
      const { store } = await open();
      await store.create('s', { contentType: 'application/octet-stream' });
      await store.append('s', [new Uint8Array(limits.streamMessageBytes)]);
      await expectCode(store.append('s', [bytes('small'), new Uint8Array(limits.streamMessageBytes + 1)]), 'PAYLOAD_TOO_LARGE');
      const r = await store.read('s', '-1', { maxMessages: 10 });
      expect(r.messages).toHaveLength(1);
      expect(r.atTail).toBe(true);
    });

    it('append and read of a missing stream are NOT_FOUND', async () => {
      const { store } = await open();
      await expectCode(store.append('nope', msgs('a')), 'NOT_FOUND');
      await expectCode(store.read('nope', '-1'), 'NOT_FOUND');
      expect(await store.head('nope')).toBeUndefined();
    });

    it('a content type that does not match the stream is CONFLICT; a matching one (any case or parameters) is fine', async () => {
      const { store } = await open();
      await store.create('s', { contentType: 'application/json' });
      await expectCode(store.append('s', msgs('1'), { contentType: TEXT }), 'CONFLICT');
      await store.append('s', msgs('1'), { contentType: 'Application/Json; charset=utf-8' });
      await store.append('s', msgs('2'));
      expect(await readAll(store, 's')).toEqual(['1', '2']);
    });

    it("a read's bytes, when the store gives them, are its messages back to back, and the caller's own", async () => {
      const { store } = await open();
      const data = [ALL_BYTES, filled(3000, 7), bytes('x'), filled(100, 1), ALL_BYTES.slice(5, 9)];
      await store.create('s', { contentType: 'application/octet-stream' }, { messages: data });
      const all = await store.read('s', '-1');
      const reads = [
        all,
        await store.read('s', all.messages[1]!.offset),
        await store.read('s', '-1', { maxBytes: 3300 }),
        await store.read('s', '-1', { maxMessages: 2 }),
        await store.read('s', all.messages[4]!.offset),
      ];
      for (const [i, r] of reads.entries()) {
        if (r.bytes === undefined) continue;
        const joined = Buffer.concat(r.messages.map((m) => m.data));
        expect(Buffer.from(r.bytes).equals(joined), `read ${i}: bytes are the messages' data back to back`).toBe(true);
      }
      if (all.bytes !== undefined && all.bytes.length > 0) {
        all.bytes.fill(0xee);
        const again = await store.read('s', '-1');
        expect(
          again.messages.map((m) => Buffer.from(m.data).toString('hex')),
          "changing a read's bytes changes nothing",
        ).toEqual(data.map((d) => Buffer.from(d).toString('hex')));
      }
    });

    it('a readOnly read answers what a plain one does, and keeps it while the stream grows and goes', async () => {
      const { store } = await open();
      const data = [ALL_BYTES, filled(3000, 7), bytes('x'), filled(100, 1)];
      await store.create('s', { contentType: 'application/octet-stream' }, { messages: data });
      const hex = (r: { messages: { data: Uint8Array }[]; bytes?: Uint8Array }) => ({
        messages: r.messages.map((m) => Buffer.from(m.data).toString('hex')),
        bytes: r.bytes === undefined ? undefined : Buffer.from(r.bytes).toString('hex'),
      });
      const from = (await store.read('s', '-1', { maxMessages: 1 })).nextOffset;
      for (const [start, opts] of [
        ['-1', {}],
        [from, {}],
        ['-1', { maxBytes: 3300 }],
        ['-1', { maxMessages: 2 }],
      ] as const) {
        const plain = await store.read('s', start, opts);
        const shared = await store.read('s', start, { ...opts, readOnly: true });
        expect({ ...shared, messages: [], bytes: undefined }).toEqual({ ...plain, messages: [], bytes: undefined });
        expect(hex(shared)).toEqual(hex(plain));
      }
      // Appends past a view's end (a memory store's buffer grows), then the stream deleted: the view holds.
      const view = await store.read('s', '-1', { readOnly: true });
      const before = hex(view);
      for (let i = 0; i < 20; i++) await store.append('s', [filled(4096, i)]);
      expect(hex(view)).toEqual(before);
      await store.delete('s');
      expect(hex(view)).toEqual(before);
      expect(before.messages).toEqual(data.map((d) => Buffer.from(d).toString('hex')));
    });

    it("an append that names its stream and the tail before it names them right (both or neither; never a duplicate's)", async () => {
      const { store } = await open();
      const made = await store.create('s', { contentType: TEXT }, { messages: msgs('a') });
      const results = [await store.append('s', msgs('b')), await store.append('s', msgs('c', 'd'))];
      const retried = { id: 'p1', epoch: 0, seq: 0 };
      results.push(await store.append('s', msgs('e'), { producer: retried }));
      const duplicate = await store.append('s', msgs('e'), { producer: retried });
      expect(duplicate.duplicate).toBe(true);
      expect(duplicate.streamId).toBeUndefined();
      expect(duplicate.previousOffset).toBeUndefined();
      results.push(await store.append('s', msgs('f'), { close: true }));
      let before = made.info.nextOffset;
      const batches = [['b'], ['c', 'd'], ['e'], ['f']];
      for (const [i, r] of results.entries()) {
        expect(r.streamId === undefined).toBe(r.previousOffset === undefined);
        if (r.streamId !== undefined) {
          expect(r.streamId).toBe(made.info.id);
          expect(r.previousOffset).toBe(before);
          expect(texts(await store.read('s', r.previousOffset!, { maxMessages: batches[i]!.length }))).toEqual(batches[i]);
        }
        before = r.nextOffset;
      }
      await store.delete('s');
      const again = await store.create('s', { contentType: TEXT });
      const next = await store.append('s', msgs('x'));
      if (next.streamId !== undefined) {
        expect(next.streamId).toBe(again.info.id);
        expect(next.streamId).not.toBe(made.info.id);
        expect(next.previousOffset).toBe(again.info.nextOffset);
      }
    });

    it('50 parallel appends all land, each once, with distinct offsets', async () => {
      const { store } = await open();
      await store.create('s', { contentType: TEXT });
      const results = fulfilled(await race(50, (i) => store.append('s', msgs(`p${i}`))));
      expect(new Set(results.map((r) => r.nextOffset)).size).toBe(50);
      // Where the store names the tail before each append, those tails chain the appends.
      const named = results.filter((r) => r.previousOffset !== undefined).sort((a, b) => (a.nextOffset < b.nextOffset ? -1 : 1));
      if (named.length > 0) {
        expect(named).toHaveLength(50);
        for (let i = 1; i < 50; i++) expect(named[i]!.previousOffset).toBe(named[i - 1]!.nextOffset);
      }
      const all = await readAll(store, 's');
      expect([...all].sort()).toEqual(Array.from({ length: 50 }, (_, i) => `p${i}`).sort());
    });
  });
}
