import { describe, expect, it } from 'vitest';
import { MemoryStreamStore } from '../src/index.js';

const TEXT = 'text/plain';

describe('MemoryStreamStore reads', () => {
  it('readOnly answers a view of the stored bytes (two reads share memory); a plain read is a copy of its own', async () => {
    const store = new MemoryStreamStore();
    await store.create('s', { contentType: TEXT }, { messages: Array.from({ length: 100 }, (_, i) => Buffer.alloc(100, i)) });
    // 10 KB: a copy of its own, not a slice of Node's shared pool of small buffers.
    const [a, b] = [await store.read('s', '-1', { readOnly: true }), await store.read('s', '-1', { readOnly: true })];
    expect(a.bytes!.buffer).toBe(b.bytes!.buffer);
    const [c, d] = [await store.read('s', '-1'), await store.read('s', '-1')];
    expect(c.bytes!.buffer).not.toBe(d.bytes!.buffer);
    expect(c.bytes!.buffer).not.toBe(a.bytes!.buffer);
    expect(Buffer.from(a.bytes!).equals(Buffer.from(c.bytes!))).toBe(true);
    await store.close();
  });

  it('a readOnly read holds at most 4 times its own bytes: a small part of a large log is copied', async () => {
    const store = new MemoryStreamStore();
    await store.create('s', { contentType: TEXT });
    for (let i = 0; i < 100; i++) await store.append('s', [Buffer.alloc(1000, i)]);
    const whole = await store.read('s', '-1', { readOnly: true });
    expect((await store.read('s', '-1', { readOnly: true })).bytes!.buffer).toBe(whole.bytes!.buffer);
    for (const maxMessages of [1, 5, 10, 20, 25, 30, 50, 99]) {
      const part = await store.read('s', '-1', { readOnly: true, maxMessages });
      const held = part.bytes!.buffer.byteLength;
      expect(part.bytes!.byteLength).toBe(1000 * maxMessages);
      // A view, or a copy: its own buffer, or a slab of Node's shared 8 KiB pool.
      expect(held <= 4 * part.bytes!.byteLength || held <= 8192, `maxMessages ${maxMessages}: holds ${held} bytes`).toBe(true);
    }
    expect((await store.read('s', '-1', { readOnly: true, maxMessages: 1 })).bytes!.buffer).not.toBe(whole.bytes!.buffer);
    await store.close();
  });

  it('a fork read through its source is joined into bytes of its own, readOnly or not', async () => {
    const store = new MemoryStreamStore();
    await store.create('src', { contentType: TEXT }, { messages: [Buffer.from('a'), Buffer.from('b')] });
    await store.create('fork', {}, { fork: { from: 'src' }, messages: [Buffer.from('c')] });
    const shared = await store.read('fork', '-1', { readOnly: true });
    expect(Buffer.from(shared.bytes!).toString()).toBe('abc');
    const source = await store.read('src', '-1', { readOnly: true });
    expect(shared.bytes!.buffer).not.toBe(source.bytes!.buffer);
    await store.close();
  });

  it('maxBytes and maxMessages cut at the last whole message that fits, from any offset, readOnly or not', async () => {
    const store = new MemoryStreamStore();
    // Sizes 1 to 7 bytes, so the cut lands between and on message boundaries.
    const sizes = Array.from({ length: 60 }, (_, i) => 1 + ((i * 5) % 7));
    const messages = sizes.map((n, i) => Buffer.alloc(n, 65 + (i % 26)));
    await store.create('s', { contentType: TEXT }, { messages });
    const offsets = ['-1', ...(await store.read('s', '-1')).messages.map((m) => m.offset)];
    for (const [at, from] of offsets.entries()) {
      for (const maxBytes of [1, 2, 6, 7, 8, 13, 40, 1000]) {
        for (const maxMessages of [1, 3, 1000]) {
          for (const readOnly of [false, true]) {
            const r = await store.read('s', from, { maxBytes, maxMessages, readOnly });
            // Expected: messages from `at`, while within both limits, one at least.
            let count = 0;
            let bytes = 0;
            while (at + count < sizes.length && count < maxMessages && (count === 0 || bytes + sizes[at + count]! <= maxBytes))
              bytes += sizes[at + count++]!;
            const label = `from ${at}, maxBytes ${maxBytes}, maxMessages ${maxMessages}, readOnly ${readOnly}`;
            expect(
              r.messages.map((m) => Buffer.from(m.data).toString()),
              label,
            ).toEqual(messages.slice(at, at + count).map((m) => m.toString()));
            expect(Buffer.from(r.bytes!).toString(), label).toBe(Buffer.concat(messages.slice(at, at + count)).toString());
            expect(r.nextOffset, label).toBe(offsets[at + count]);
            expect(r.atTail, label).toBe(at + count === sizes.length);
          }
        }
      }
    }
    await store.close();
  });

  it("a readOnly read's messages are made once, when first read; a plain read's are its own property", async () => {
    const store = new MemoryStreamStore();
    await store.create('s', { contentType: TEXT }, { messages: [Buffer.from('a'), Buffer.from('bc')] });
    const lazy = await store.read('s', '-1', { readOnly: true });
    expect(Object.keys(lazy)).not.toContain('messages');
    expect(lazy.messages).toBe(lazy.messages);
    expect(lazy.messages.map((m) => Buffer.from(m.data).toString())).toEqual(['a', 'bc']);
    lazy.messages = [];
    expect(lazy.messages).toEqual([]);
    const plain = await store.read('s', '-1');
    expect({ ...plain }.messages.map((m) => Buffer.from(m.data).toString())).toEqual(['a', 'bc']);
    expect(JSON.parse(JSON.stringify(plain)).messages).toHaveLength(2);
    await store.close();
  });
});
