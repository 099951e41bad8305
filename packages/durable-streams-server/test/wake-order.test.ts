import { describe, expect, it } from 'vitest';
import { createStreamsServer, type StreamsLogger } from '../src/index.js';
import { openMemoryStore, openSqliteFileStore } from './stores.js';

/** The method and status of each completed request, in the order their responses finished. */
function finishing(): { logger: StreamsLogger; done: string[] } {
  const done: string[] = [];
  const none = () => {};
  const info = (fields: Record<string, unknown>) => void done.push(`${String(fields['method'])} ${String(fields['status'])}`);
  return { done, logger: { debug: none, info, warn: none, error: none } };
}

const until = async (ready: () => boolean) => {
  for (let i = 0; i < 500 && !ready(); i++) await new Promise((r) => setTimeout(r, 10));
  expect(ready()).toBe(true);
};

/**
 * An append that wakes a few live readers answers them before its appender: the readers'
 * latency is what a live stream is for, and the appender's answer waits one turn of the event
 * loop. Measured with 1,500 wake-ups on memory: p50 1.14 to 1.16 ms against 1.48 before.
 */
describe.each([
  ['MemoryStreamStore', openMemoryStore],
  ['SqliteStreamStore', openSqliteFileStore],
])('on %s, the readers an append wakes are answered first', (_, open) => {
  it('a long-poll reader gets its data before the appender its 204', async () => {
    const opened = await open();
    const { logger, done } = finishing();
    const server = createStreamsServer({ store: opened.store, logger });
    const base = await server.listen(0);
    try {
      const created = await fetch(`${base}/s`, { method: 'PUT', headers: { 'Content-Type': 'text/plain' } });
      const tail = created.headers.get('stream-next-offset')!;
      const poll = fetch(`${base}/s?offset=${encodeURIComponent(tail)}&live=long-poll`).then(async (r) => `${r.status} ${await r.text()}`);
      await until(() => server.handler.waitingReaders === 1);
      done.length = 0;
      const appended = await fetch(`${base}/s`, { method: 'POST', headers: { 'Content-Type': 'text/plain' }, body: 'x' });
      expect(appended.status).toBe(204);
      expect(await poll).toBe('200 x');
      await until(() => done.length === 2);
      expect(done).toEqual(['GET 200', 'POST 204']);
    } finally {
      await server.close();
      await opened.close();
    }
  });
});
