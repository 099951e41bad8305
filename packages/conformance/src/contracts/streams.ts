import type { StreamAppendResult, StreamStore } from '@stowage/core';
import { describe, expect, it } from 'vitest';
import { limitsOf, opener, type ConformanceOptions, type StoreFactory } from '../context.js';
import {
  ALL_BYTES,
  BAD_BYTES,
  BAD_DURATIONS,
  BAD_KEYS,
  bytes,
  expectCode,
  filled,
  fulfilled,
  ODD_KEYS,
  race,
  rejectedCodes,
  sleep,
  text,
} from '../helpers.js';

const START = '0000000000000000_0000000000000000';
const TEXT = 'text/plain';
const HOUR = 3_600_000;
const msgs = (...parts: string[]) => parts.map(bytes);
const texts = (r: { messages: { data: Uint8Array }[] }) => r.messages.map((m) => text(m.data));

async function readAll(store: StreamStore, name: string, from = '-1'): Promise<string[]> {
  const out: string[] = [];
  let offset = from;
  for (let i = 0; i < 10_000; i++) {
    const r = await store.read(name, offset);
    out.push(...texts(r));
    offset = r.nextOffset;
    if (r.atTail) return out;
  }
  throw new Error('readAll did not reach the tail');
}

export function streamTests(factory: StoreFactory<StreamStore>, options: ConformanceOptions): void {
  const open = opener(factory, options);
  const limits = limitsOf(options);

  describe('create', () => {
    it('creates an empty stream at the start offset', async () => {
      const { store, clock } = await open();
      const r = await store.create('s', { contentType: TEXT });
      expect(r.status).toBe('created');
      expect(r.info).toMatchObject({ contentType: TEXT, closed: false, nextOffset: START, createdAt: clock.now() });
      expect(typeof r.info.id).toBe('string');
      expect(r.info.ttlMs).toBeUndefined();
      expect(r.info.expiresAt).toBeUndefined();
      expect(await store.head('s')).toEqual(r.info);
    });

    it('keeps the content type as given and compares media types only', async () => {
      const { store } = await open();
      await store.create('s', { contentType: 'application/json; charset=utf-8' });
      expect((await store.head('s'))!.contentType).toBe('application/json; charset=utf-8');
      expect((await store.create('s', { contentType: 'Application/JSON' })).status).toBe('exists');
      await expectCode(store.create('s', { contentType: TEXT }), 'CONFLICT');
    });

    it('is idempotent for the same configuration and CONFLICT for another', async () => {
      const { store } = await open();
      await store.create('s', { contentType: TEXT, ttlMs: HOUR });
      expect((await store.create('s', { contentType: TEXT, ttlMs: HOUR })).status).toBe('exists');
      await expectCode(store.create('s', { contentType: TEXT }), 'CONFLICT');
      await expectCode(store.create('s', { contentType: TEXT, ttlMs: HOUR + 1 }), 'CONFLICT');
      await expectCode(store.create('s', { contentType: TEXT, ttlMs: HOUR, closed: true }), 'CONFLICT');
      await store.create('e', { contentType: TEXT, expiresAt: 2_000_000_000_000 });
      expect((await store.create('e', { contentType: TEXT, expiresAt: 2_000_000_000_000 })).status).toBe('exists');
      await expectCode(store.create('e', { contentType: TEXT, expiresAt: 2_000_000_000_001 }), 'CONFLICT');
    });

    it('an idempotent create appends nothing', async () => {
      const { store } = await open();
      await store.create('s', { contentType: TEXT }, { messages: msgs('a') });
      const again = await store.create('s', { contentType: TEXT }, { messages: msgs('b') });
      expect(again.status).toBe('exists');
      expect(await readAll(store, 's')).toEqual(['a']);
    });

    it('takes initial messages in the same step', async () => {
      const { store } = await open();
      const r = await store.create('s', { contentType: TEXT }, { messages: msgs('one', 'two', 'three') });
      expect(r.info.nextOffset > START).toBe(true);
      expect(await readAll(store, 's')).toEqual(['one', 'two', 'three']);
      expect((await store.head('s'))!.nextOffset).toBe(r.info.nextOffset);
    });

    it('creates a closed stream whose initial messages are its whole content', async () => {
      const { store } = await open();
      const r = await store.create('s', { contentType: TEXT, closed: true }, { messages: msgs('final') });
      expect(r.info.closed).toBe(true);
      await expectCode(store.append('s', msgs('more')), 'CONFLICT');
      const read = await store.read('s', '-1');
      expect(texts(read)).toEqual(['final']);
      expect(read).toMatchObject({ atTail: true, closed: true });
    });

    it('a name can be created again after delete, as a new stream', async () => {
      const { store } = await open();
      const first = await store.create('s', { contentType: TEXT }, { messages: msgs('old') });
      await store.delete('s');
      const second = await store.create('s', { contentType: 'application/json' });
      expect(second.status).toBe('created');
      expect(second.info.id).not.toBe(first.info.id);
      expect(second.info.nextOffset).toBe(START);
      expect(await readAll(store, 's')).toEqual([]);
    });

    it('odd names round-trip and never collide', async () => {
      const { store } = await open();
      for (const [i, name] of ODD_KEYS.entries()) await store.create(name, { contentType: TEXT }, { messages: msgs(`#${i}`) });
      for (const [i, name] of ODD_KEYS.entries()) expect(await readAll(store, name), name.slice(0, 20)).toEqual([`#${i}`]);
    });

    it('20 parallel creates of one name: one created, the others exist', async () => {
      const { store } = await open();
      const results = fulfilled(await race(20, () => store.create('s', { contentType: TEXT }, { messages: msgs('x') })));
      expect(results.filter((r) => r.status === 'created')).toHaveLength(1);
      expect(results.filter((r) => r.status === 'exists')).toHaveLength(19);
      expect(await readAll(store, 's')).toEqual(['x']);
    });
  });

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
      for (const bad of ['9999999999999999_9999999999999999', '0000000000000000_0000000000000002', 'now', '', 'abc', '-2', '0,1', '0000000000000000_000000000000000x']) {
        await expectCode(store.read('s', bad), 'INVALID_ARGUMENT');
      }
    });

    it('maxMessages and maxBytes page through a stream; a large message still comes alone', async () => {
      const { store } = await open();
      await store.create('s', { contentType: TEXT }, { messages: [filled(10), filled(10), filled(3000), filled(10), filled(10)] });
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

    it('50 parallel appends all land, each once, with distinct offsets', async () => {
      const { store } = await open();
      await store.create('s', { contentType: TEXT });
      const results = fulfilled(await race(50, (i) => store.append('s', msgs(`p${i}`))));
      expect(new Set(results.map((r) => r.nextOffset)).size).toBe(50);
      const all = await readAll(store, 's');
      expect([...all].sort()).toEqual(Array.from({ length: 50 }, (_, i) => `p${i}`).sort());
    });
  });

  describe('writer sequence (seq)', () => {
    it('must strictly increase; equal or lower is CONFLICT and appends nothing', async () => {
      const { store } = await open();
      await store.create('s', { contentType: TEXT });
      await store.append('s', msgs('1'), { seq: '001' });
      await store.append('s', msgs('2'), { seq: '002' });
      await expectCode(store.append('s', msgs('x'), { seq: '002' }), 'CONFLICT');
      await expectCode(store.append('s', msgs('x'), { seq: '001' }), 'CONFLICT');
      await store.append('s', msgs('3'));
      await store.append('s', msgs('4'), { seq: '003' });
      expect(await readAll(store, 's')).toEqual(['1', '2', '3', '4']);
    });

    it('compares as bytes: "B" < "a", "10" < "9", and é > z', async () => {
      const { store } = await open();
      await store.create('s', { contentType: TEXT });
      await store.append('s', msgs('1'), { seq: 'B' });
      await store.append('s', msgs('2'), { seq: 'a' });
      await expectCode(store.append('s', msgs('x'), { seq: 'B' }), 'CONFLICT');
      await store.append('s', msgs('3'), { seq: 'z' });
      await store.append('s', msgs('4'), { seq: 'é' });
      await store.create('n', { contentType: TEXT });
      await store.append('n', msgs('1'), { seq: '9' });
      await expectCode(store.append('n', msgs('x'), { seq: '10' }), 'CONFLICT');
      await store.create('u', { contentType: TEXT });
      await store.append('u', msgs('1'), { seq: '\uff5e' });
      await store.append('u', msgs('2'), { seq: '\u{1f600}' });
    });
  });

  describe('closing', () => {
    it('closeStream closes once; appends are then CONFLICT with the tail in details', async () => {
      const { store } = await open();
      const { info } = await store.create('s', { contentType: TEXT }, { messages: msgs('a') });
      expect(await store.closeStream('s')).toEqual({ nextOffset: info.nextOffset, alreadyClosed: false, duplicate: false });
      expect(await store.closeStream('s')).toMatchObject({ alreadyClosed: true });
      const err = await expectCode(store.append('s', msgs('b')), 'CONFLICT');
      expect(err.details).toMatchObject({ closed: true, nextOffset: info.nextOffset });
      expect((await store.head('s'))!.closed).toBe(true);
      const r = await store.read('s', info.nextOffset);
      expect(r).toMatchObject({ atTail: true, closed: true });
    });

    it('append with close appends and closes in one step', async () => {
      const { store } = await open();
      await store.create('s', { contentType: TEXT });
      const r = await store.append('s', msgs('last'), { close: true });
      expect(r.closed).toBe(true);
      await expectCode(store.append('s', msgs('after')), 'CONFLICT');
      expect(await readAll(store, 's')).toEqual(['last']);
    });

    it('closeStream of a missing stream is NOT_FOUND', async () => {
      const { store } = await open();
      await expectCode(store.closeStream('nope'), 'NOT_FOUND');
    });

    it('a partial read of a closed stream is not at the tail', async () => {
      const { store } = await open();
      await store.create('s', { contentType: TEXT, closed: true }, { messages: msgs('a', 'b') });
      expect(await store.read('s', '-1', { maxMessages: 1 })).toMatchObject({ atTail: false, closed: true });
    });
  });

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
      expect(err.details).toMatchObject({ expectedSeq: 1, receivedSeq: 2 });
      expect(await readAll(store, 's')).toEqual(['a']);
    });

    it('a new producer must start at seq 0', async () => {
      const { store } = await open();
      await store.create('s', { contentType: TEXT });
      const err = await expectCode(store.append('s', msgs('x'), { producer: { id: P, epoch: 0, seq: 1 } }), 'CONFLICT');
      expect(err.details).toMatchObject({ expectedSeq: 0, receivedSeq: 1 });
    });

    it('a stale epoch is FENCED with the current epoch; a new epoch starts at seq 0', async () => {
      const { store } = await open();
      await store.create('s', { contentType: TEXT });
      await store.append('s', msgs('a'), { producer: { id: P, epoch: 0, seq: 0 } });
      await store.append('s', msgs('b'), { producer: { id: P, epoch: 2, seq: 0 } });
      const fenced = await expectCode(store.append('s', msgs('zombie'), { producer: { id: P, epoch: 1, seq: 0 } }), 'FENCED');
      expect(fenced.details).toMatchObject({ currentEpoch: 2 });
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
      expect(conflict.details).toMatchObject({ closed: true });
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
        const results = await Promise.allSettled(pending.map((seq) => store.append('s', msgs(`m${seq}`), { producer: { id: P, epoch: 0, seq } })));
        pending = pending.filter((_, i) => results[i]!.status === 'rejected');
      }
      expect(pending).toEqual([]);
      expect(await readAll(store, 's')).toEqual(Array.from({ length: 30 }, (_, i) => `m${i}`));
    });
  });

  describe('expiry', () => {
    it('an idle TTL ends exactly ttlMs after the last access', async () => {
      const { store, clock } = await open();
      await store.create('s', { contentType: TEXT, ttlMs: 10_000 });
      clock.advance(9_999);
      expect(await store.head('s')).toBeDefined();
      clock.advance(1);
      expect(await store.head('s')).toBeUndefined();
      await expectCode(store.read('s', '-1'), 'NOT_FOUND');
      await expectCode(store.append('s', msgs('a')), 'NOT_FOUND');
      await expectCode(store.closeStream('s'), 'NOT_FOUND');
      expect(await store.delete('s')).toBe(false);
    });

    it('reads, appends and closes renew the idle TTL; head does not', async () => {
      const { store, clock } = await open();
      await store.create('s', { contentType: TEXT, ttlMs: 1000 });
      clock.advance(900);
      await store.append('s', msgs('a'));
      clock.advance(900);
      await store.read('s', '-1');
      clock.advance(900);
      await store.closeStream('s');
      clock.advance(900);
      expect(await store.head('s')).toBeDefined();
      clock.advance(99);
      expect(await store.head('s')).toBeDefined();
      clock.advance(1);
      expect(await store.head('s')).toBeUndefined();
    });

    it('an absolute expiresAt is not renewed by reads or writes', async () => {
      const { store, clock } = await open();
      const at = clock.now() + 2000;
      const r = await store.create('s', { contentType: TEXT, expiresAt: at });
      expect(r.info.expiresAt).toBe(at);
      clock.advance(1500);
      await store.append('s', msgs('a'));
      await store.read('s', '-1');
      clock.set(at - 1);
      expect(await store.head('s')).toBeDefined();
      clock.set(at);
      expect(await store.head('s')).toBeUndefined();
    });

    it('an expired name can be created again as a new stream', async () => {
      const { store, clock } = await open();
      const first = await store.create('s', { contentType: TEXT, ttlMs: 1000 }, { messages: msgs('old') });
      clock.advance(1000);
      const second = await store.create('s', { contentType: TEXT });
      expect(second.status).toBe('created');
      expect(second.info.id).not.toBe(first.info.id);
      expect(await readAll(store, 's')).toEqual([]);
    });

    it('cleanupExpired deletes expired streams and returns how many', async () => {
      const { store, clock } = await open();
      for (let i = 0; i < 3; i++) await store.create(`short-${i}`, { contentType: TEXT, ttlMs: 1000 }, { messages: msgs('x') });
      await store.create('long', { contentType: TEXT, ttlMs: HOUR });
      await store.create('forever', { contentType: TEXT });
      clock.advance(1000);
      expect(await store.cleanupExpired()).toBe(3);
      expect(await store.cleanupExpired()).toBe(0);
      expect(await store.head('long')).toBeDefined();
      expect(await store.head('forever')).toBeDefined();
    });

    it('streams expire in real time on the store clock', async () => {
      const { store } = await open('real-time');
      const r = await store.create('rt', { contentType: TEXT, ttlMs: 1000 });
      expect(Math.abs(r.info.createdAt - Date.now())).toBeLessThan(5000);
      await sleep(1400);
      expect(await store.head('rt')).toBeUndefined();
    });
  });

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
      await expectCode(store.create('f', { contentType: TEXT }, { fork: { from: 'src', offset: '9999999999999999_9999999999999999' } }), 'INVALID_ARGUMENT');
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
      const f = await store.create('fork', {}, { fork: { from: 'src', offset: offsets[0], subOffset: 1, prefix: bytes('b-prefix') } });
      expect(f.info).toMatchObject({ forkOffset: offsets[0], forkSubOffset: 1, nextOffset: offsets[1] });
      expect(await readAll(store, 'fork')).toEqual(['a', 'b-prefix']);
      const same = { fork: { from: 'src', offset: offsets[0], subOffset: 1, prefix: bytes('b-prefix') } };
      expect((await store.create('fork', {}, same)).status).toBe('exists');
      await expectCode(store.create('fork', {}, { fork: { from: 'src', offset: offsets[0], subOffset: 2, prefix: bytes('b') } }), 'CONFLICT');
      await expectCode(store.create('fork', {}, { fork: { from: 'src', offset: offsets[0] } }), 'CONFLICT');
    });

    it('a sub-offset needs a prefix and a source message after the offset', async () => {
      const { store } = await open();
      const offsets = await source(store);
      await expectCode(store.create('f', {}, { fork: { from: 'src', offset: offsets[0], subOffset: 1 } }), 'INVALID_ARGUMENT');
      await expectCode(store.create('f', {}, { fork: { from: 'src', offset: offsets[2], subOffset: 1, prefix: bytes('x') } }), 'INVALID_ARGUMENT');
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

  describe('delete', () => {
    it('removes a stream once', async () => {
      const { store } = await open();
      await store.create('s', { contentType: TEXT }, { messages: msgs('a') });
      expect(await store.delete('s')).toBe(true);
      expect(await store.head('s')).toBeUndefined();
      await expectCode(store.read('s', '-1'), 'NOT_FOUND');
      expect(await store.delete('s')).toBe(false);
    });

    it('of 20 parallel deletes, exactly one is true', async () => {
      const { store } = await open();
      await store.create('s', { contentType: TEXT });
      const results = fulfilled(await race(20, () => store.delete('s')));
      expect(results.filter(Boolean)).toHaveLength(1);
    });
  });

  describe('wait', () => {
    it('resolves data at once when data already follows the offset', async () => {
      const { store } = await open();
      await store.create('s', { contentType: TEXT }, { messages: msgs('a') });
      expect(await store.wait('s', START, 5000)).toBe('data');
      expect(await store.wait('s', '-1', 5000)).toBe('data');
    });

    it('resolves data when another call appends', async () => {
      const { store } = await open();
      const { info } = await store.create('s', { contentType: TEXT });
      const started = Date.now();
      const waiting = store.wait('s', info.nextOffset, 10_000);
      await sleep(50);
      await store.append('s', msgs('wake'));
      expect(await waiting).toBe('data');
      expect(Date.now() - started).toBeLessThan(5000);
    });

    it('resolves data for a second instance of the store (another replica appends)', async () => {
      const { store, reopen } = await open();
      const other = await reopen();
      const { info } = await store.create('s', { contentType: TEXT });
      const waiting = store.wait('s', info.nextOffset, 10_000);
      await sleep(50);
      await other.append('s', msgs('from elsewhere'));
      expect(await waiting).toBe('data');
    });

    it('resolves timeout when nothing happens', async () => {
      const { store } = await open();
      const { info } = await store.create('s', { contentType: TEXT });
      const started = Date.now();
      expect(await store.wait('s', info.nextOffset, 300)).toBe('timeout');
      expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    });

    it('resolves closed at the tail of a closed stream, and when the stream closes', async () => {
      const { store } = await open();
      const { info } = await store.create('s', { contentType: TEXT });
      const waiting = store.wait('s', info.nextOffset, 10_000);
      await sleep(50);
      await store.closeStream('s');
      expect(await waiting).toBe('closed');
      expect(await store.wait('s', info.nextOffset, 10_000)).toBe('closed');
    });

    it('resolves missing for a missing stream and when the stream is deleted', async () => {
      const { store } = await open();
      expect(await store.wait('nope', '-1', 5000)).toBe('missing');
      const { info } = await store.create('s', { contentType: TEXT });
      const waiting = store.wait('s', info.nextOffset, 10_000);
      await sleep(50);
      await store.delete('s');
      expect(await waiting).toBe('missing');
    });

    it('resolves aborted when the signal aborts', async () => {
      const { store } = await open();
      const { info } = await store.create('s', { contentType: TEXT });
      const ac = new AbortController();
      const waiting = store.wait('s', info.nextOffset, 10_000, ac.signal);
      await sleep(30);
      ac.abort();
      expect(await waiting).toBe('aborted');
      expect(await store.wait('s', info.nextOffset, 10_000, ac.signal)).toBe('aborted');
    });

    it('wakes 20 waiters with one append', async () => {
      const { store } = await open();
      const { info } = await store.create('s', { contentType: TEXT });
      const waits = Array.from({ length: 20 }, () => store.wait('s', info.nextOffset, 10_000));
      await sleep(50);
      await store.append('s', msgs('all'));
      expect(await Promise.all(waits)).toEqual(Array(20).fill('data'));
    });

    it('a fork waiter inside inherited data resolves data at once', async () => {
      const { store } = await open();
      await store.create('src', { contentType: TEXT }, { messages: msgs('a', 'b') });
      await store.create('fork', {}, { fork: { from: 'src' } });
      expect(await store.wait('fork', START, 5000)).toBe('data');
    });

    it('a malformed offset is INVALID_ARGUMENT and a bad timeout too', async () => {
      const { store } = await open();
      await store.create('s', { contentType: TEXT });
      await expectCode(store.wait('s', 'garbage', 100), 'INVALID_ARGUMENT');
      for (const [, bad] of BAD_DURATIONS) await expectCode(store.wait('s', '-1', bad as number), 'INVALID_ARGUMENT');
    });
  });

  describe('bad input is INVALID_ARGUMENT and changes nothing', () => {
    for (const [label, name] of BAD_KEYS) {
      it(`name as ${label}`, async () => {
        const { store } = await open();
        const n = name as string;
        await expectCode(store.create(n, { contentType: TEXT }), 'INVALID_ARGUMENT');
        await expectCode(store.append(n, msgs('a')), 'INVALID_ARGUMENT');
        await expectCode(store.read(n, '-1'), 'INVALID_ARGUMENT');
        await expectCode(store.head(n), 'INVALID_ARGUMENT');
        await expectCode(store.closeStream(n), 'INVALID_ARGUMENT');
        await expectCode(store.delete(n), 'INVALID_ARGUMENT');
        await expectCode(store.wait(n, '-1', 100), 'INVALID_ARGUMENT');
        await expectCode(store.create('f', { contentType: TEXT }, { fork: { from: n } }), 'INVALID_ARGUMENT');
        expect(await store.head('f')).toBeUndefined();
      });
    }

    const badConfigs: [string, unknown][] = [
      ['no config', undefined],
      ['no content type', {}],
      ['an empty content type', { contentType: '' }],
      ['a content type with a control character', { contentType: 'text/plain\n' }],
      ['ttlMs and expiresAt together', { contentType: TEXT, ttlMs: 1000, expiresAt: 2_000_000_000_000 }],
      ['a negative expiresAt', { contentType: TEXT, expiresAt: -1 }],
      ['a fractional expiresAt', { contentType: TEXT, expiresAt: 1.5 }],
      ['a string closed', { contentType: TEXT, closed: 'yes' }],
      ...BAD_DURATIONS.map(([l, d]): [string, unknown] => [`ttlMs as ${l}`, { contentType: TEXT, ttlMs: d }]),
    ];
    for (const [label, config] of badConfigs) {
      it(`create with ${label}`, async () => {
        const { store } = await open();
        await expectCode(store.create('s', config as never), 'INVALID_ARGUMENT');
        expect(await store.head('s')).toBeUndefined();
      });
    }

    const badBatches: [string, unknown, boolean][] = [
      // [label, batch, whether create also refuses it as initial messages]
      ['an empty batch', [], false],
      ['an empty message', [new Uint8Array(0)], true],
      ['not an array', bytes('x'), true],
      ...BAD_BYTES.map(([l, b]): [string, unknown, boolean] => [`a message as ${l}`, [bytes('ok'), b], true]),
    ];
    for (const [label, batch, createRefuses] of badBatches) {
      it(`append of ${label}`, async () => {
        const { store } = await open();
        await store.create('s', { contentType: TEXT });
        await expectCode(store.append('s', batch as Uint8Array[]), 'INVALID_ARGUMENT');
        expect(await readAll(store, 's')).toEqual([]);
        if (createRefuses) {
          await expectCode(store.create('t', { contentType: TEXT }, { messages: batch as Uint8Array[] }), 'INVALID_ARGUMENT');
          expect(await store.head('t')).toBeUndefined();
        } else {
          expect((await store.create('t', { contentType: TEXT }, { messages: batch as Uint8Array[] })).info.nextOffset).toBe(START);
        }
      });
    }

    const badProducers: [string, unknown][] = [
      ['no id', { epoch: 0, seq: 0 }],
      ['an empty id', { id: '', epoch: 0, seq: 0 }],
      ['a negative epoch', { id: 'p', epoch: -1, seq: 0 }],
      ['a fractional seq', { id: 'p', epoch: 0, seq: 0.5 }],
      ['an epoch over 2^53 - 1', { id: 'p', epoch: 2 ** 53, seq: 0 }],
      ['a string seq', { id: 'p', epoch: 0, seq: '0' }],
      ['null', null],
    ];
    for (const [label, producer] of badProducers) {
      it(`producer with ${label}`, async () => {
        const { store } = await open();
        await store.create('s', { contentType: TEXT });
        await expectCode(store.append('s', msgs('x'), { producer: producer as never }), 'INVALID_ARGUMENT');
        await expectCode(store.closeStream('s', { producer: producer as never }), 'INVALID_ARGUMENT');
        expect(await store.head('s')).toMatchObject({ closed: false, nextOffset: START });
      });
    }

    it('append options of the wrong type', async () => {
      const { store } = await open();
      await store.create('s', { contentType: TEXT });
      await expectCode(store.append('s', msgs('x'), { seq: '' }), 'INVALID_ARGUMENT');
      await expectCode(store.append('s', msgs('x'), { seq: 5 as never }), 'INVALID_ARGUMENT');
      await expectCode(store.append('s', msgs('x'), { close: 'yes' as never }), 'INVALID_ARGUMENT');
      await expectCode(store.append('s', msgs('x'), { contentType: '' }), 'INVALID_ARGUMENT');
      await expectCode(store.append('s', msgs('x'), 'opts' as never), 'INVALID_ARGUMENT');
      await expectCode(store.read('s', '-1', { maxBytes: 0 }), 'INVALID_ARGUMENT');
      await expectCode(store.read('s', '-1', { maxMessages: 1.5 }), 'INVALID_ARGUMENT');
      expect(await store.head('s')).toMatchObject({ closed: false, nextOffset: START });
    });

    it('fails on bad input without side effects under concurrency', async () => {
      const { store } = await open();
      await store.create('s', { contentType: TEXT });
      const results = await race(30, (i) => (i % 3 === 0 ? store.append('s', msgs(`ok${i}`)) : store.append('s', [bytes('x'), new Uint8Array(0)])));
      expect(rejectedCodes(results).every((c) => c === 'INVALID_ARGUMENT')).toBe(true);
      expect((await readAll(store, 's')).length).toBe(10);
    });
  });
}
