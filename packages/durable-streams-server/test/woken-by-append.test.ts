import { expect, it } from 'vitest';
import { createStreamsServer } from '../src/index.js';
import type { OpenedTestStore } from './helpers.js';
import { eventually, InstrumentedStore } from './instrumented-store.js';
import { sseReader } from './sse-text.js';
import { describeEveryStore } from './stores.js';

/** A server on `opened`'s store, seen through a window that counts its reads. */
async function serve(open: () => Promise<OpenedTestStore>) {
  const opened = await open();
  const store = new InstrumentedStore(opened.store);
  const server = createStreamsServer({ store });
  const base = await server.listen(0);
  return {
    store,
    base,
    server,
    put: async (path: string, type: string) => {
      const r = await fetch(`${base}${path}`, { method: 'PUT', headers: { 'Content-Type': type } });
      expect(r.status).toBe(201);
      return r.headers.get('stream-next-offset')!;
    },
    post: (path: string, type: string, body: string, headers: Record<string, string> = {}) =>
      fetch(`${base}${path}`, { method: 'POST', headers: { 'Content-Type': type, ...headers }, body }),
    poll: (path: string, offset: string) => fetch(`${base}${path}?offset=${encodeURIComponent(offset)}&live=long-poll`),
    waiting: (n: number) => eventually(() => server.handler.waitingReaders === n, 5000),
    close: async () => {
      await server.close();
      await opened.close();
    },
  };
}

/**
 * The live readers an append of this server wakes are answered with its message, not a read of
 * the store (the store names the stream and the tail before the append): on a database that is
 * one round trip less per wake-up. Each case counts the store's reads and fails when the woken
 * readers read.
 */
await describeEveryStore((open) => {
  it('long-poll and SSE readers woken by an append get its message, and the store is not read', async () => {
    const s = await serve(open);
    try {
      const tail = await s.put('/s', 'text/plain');
      const polls = [1, 2, 3].map(() => s.poll('/s', tail));
      const sse = sseReader(await fetch(`${s.base}/s?offset=${encodeURIComponent(tail)}&live=sse`));
      await sse.until((t) => t.includes('event: control'));
      expect(await s.waiting(4)).toBe(true);
      const reads = s.store.readsStarted;
      const appended = await s.post('/s', 'text/plain', 'hello');
      expect(appended.status).toBe(204);
      const next = appended.headers.get('stream-next-offset')!;
      for (const p of await Promise.all(polls)) {
        expect(p.status).toBe(200);
        expect(p.headers.get('stream-next-offset')).toBe(next);
        expect(p.headers.get('stream-up-to-date')).toBe('true');
        expect(p.headers.get('content-type')).toBe('text/plain');
        expect(await p.text()).toBe('hello');
      }
      const text = await sse.until((t) => t.includes(next));
      expect(text).toContain('data:hello');
      await sse.cancel();
      expect(s.store.readsStarted - reads).toBe(0);
      // What the next reader reads from the store is what the woken ones were given.
      expect(await (await fetch(`${s.base}/s?offset=${encodeURIComponent(tail)}`)).text()).toBe('hello');
    } finally {
      await s.close();
    }
  });

  it('a reader whose wait ends turns after the append answered still gets its message, not a read', async () => {
    const s = await serve(open);
    try {
      const tail = await s.put('/late', 'text/plain');
      const polls = [1, 2].map(() => s.poll('/late', tail));
      expect(await s.waiting(2)).toBe(true);
      s.store.lateWakeMs = 50; // the CI flake: a first look on another connection came back late
      const reads = s.store.readsStarted;
      const appended = await s.post('/late', 'text/plain', 'late');
      expect(appended.status).toBe(204);
      for (const p of await Promise.all(polls)) {
        expect(p.status).toBe(200);
        expect(p.headers.get('stream-next-offset')).toBe(appended.headers.get('stream-next-offset'));
        expect(await p.text()).toBe('late');
      }
      expect(s.store.readsStarted - reads).toBe(0);
    } finally {
      await s.close();
    }
  });

  it('a JSON stream answers the woken reader an array; an append that closes says so', async () => {
    const s = await serve(open);
    try {
      const tail = await s.put('/j', 'application/json');
      const poll = s.poll('/j', tail);
      expect(await s.waiting(1)).toBe(true);
      const reads = s.store.readsStarted;
      expect((await s.post('/j', 'application/json', '{"a":1}', { 'Stream-Closed': 'true' })).status).toBe(204);
      const r = await poll;
      expect(r.status).toBe(200);
      expect(await r.json()).toEqual([{ a: 1 }]);
      expect(r.headers.get('stream-closed')).toBe('true');
      expect(s.store.readsStarted - reads).toBe(0);
    } finally {
      await s.close();
    }
  });

  it('appends racing each other: every woken reader gets the data from its own offset, in order', async () => {
    const s = await serve(open);
    try {
      const tail = await s.put('/r', 'text/plain');
      for (let round = 0; round < 5; round++) {
        const start = (await fetch(`${s.base}/r?offset=now`)).headers.get('stream-next-offset')!;
        const polls = [1, 2, 3, 4].map(() => s.poll('/r', start));
        expect(await s.waiting(4)).toBe(true);
        const posts = await Promise.all(['a', 'b', 'c'].map((m) => s.post('/r', 'text/plain', `${round}${m}`)));
        for (const p of posts) expect(p.status).toBe(204);
        const all = await (await fetch(`${s.base}/r?offset=${encodeURIComponent(start)}`)).text();
        expect(all).toHaveLength(6);
        for (const p of await Promise.all(polls)) {
          expect(p.status).toBe(200);
          const body = await p.text();
          // Whatever part of the three it got, it starts at its offset and ends at its next offset.
          expect(all.startsWith(body)).toBe(true);
          const rest = await (await fetch(`${s.base}/r?offset=${encodeURIComponent(p.headers.get('stream-next-offset')!)}`)).text();
          expect(body + rest).toBe(all);
        }
      }
      // Nothing lost or doubled: each round's three appends, in some order, after the last round's.
      const whole = await (await fetch(`${s.base}/r?offset=${encodeURIComponent(tail)}`)).text();
      expect(whole).toHaveLength(30);
      const rounds = Array.from({ length: 5 }, (_, i) => [...whole.slice(i * 6, i * 6 + 6).matchAll(/../g)].map((m) => m[0]).sort());
      expect(rounds).toEqual([0, 1, 2, 3, 4].map((i) => [`${i}a`, `${i}b`, `${i}c`]));
    } finally {
      await s.close();
    }
  });
});
