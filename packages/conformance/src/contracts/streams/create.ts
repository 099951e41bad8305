import { describe, expect, it } from 'vitest';
import { expectCode, fulfilled, ODD_KEYS, race } from '../../helpers.js';
import { HOUR, msgs, readAll, START, type StreamOpen, TEXT, texts } from './fixtures.js';

export function streamCreateTests(open: StreamOpen): void {
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
      // A tab is whitespace an HTTP field value may hold, around parameters.
      await store.create('t', { contentType: 'text/plain;\tcharset=utf-8' });
      expect((await store.head('t'))!.contentType).toBe('text/plain;\tcharset=utf-8');
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
}
