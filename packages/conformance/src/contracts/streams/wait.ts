import { describe, expect, it } from 'vitest';
import { BAD_DURATIONS, expectCode, sleep } from '../../helpers.js';
import { msgs, START, type StreamOpen, TEXT } from './fixtures.js';

export function streamWaitTests(open: StreamOpen): void {
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
}
