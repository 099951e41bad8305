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
});
