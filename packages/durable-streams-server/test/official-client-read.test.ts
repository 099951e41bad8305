import { stream } from '@durable-streams/client';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createStreamsServer, type StreamsServer } from '../src/index.js';
import type { OpenedTestStore } from './helpers.js';
import { describeEveryStore } from './stores.js';

// The official client, `@durable-streams/client` 0.2.x, with `live: false` makes one request
// and stops, whether or not the answer says `Stream-Up-To-Date`: a stream longer than one read
// response reads short, with no error. The default `readMaxBytes` answers such a stream
// (1,000 messages, 1.1 MB) whole; a 1 MiB limit (the default before) shows why it had to change.

const COUNT = 1000;
/** 1,000 JSON messages of about 1.1 KB: 1.1 MB in all, over the old 1 MiB limit. */
const messages = Array.from({ length: COUNT }, (_, i) => ({ i, pad: 'x'.repeat(1100) }));

async function fill(base: string, name: string): Promise<void> {
  const url = `${base}/${name}`;
  const created = await fetch(url, { method: 'PUT', headers: { 'Content-Type': 'application/json' } });
  expect(created.status).toBe(201);
  for (let i = 0; i < COUNT; i += 100) {
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(messages.slice(i, i + 100)),
    });
    expect(res.status).toBe(204);
  }
}

const indexes = (items: unknown[]): number[] => items.map((m) => (m as { i: number }).i);

await describeEveryStore((open) => {
  let opened: OpenedTestStore;
  let byDefault: StreamsServer;
  let oneMiB: StreamsServer;
  const base = { byDefault: '', oneMiB: '' };
  beforeAll(async () => {
    opened = await open();
    byDefault = createStreamsServer({ store: opened.store, log: false });
    oneMiB = createStreamsServer({ store: opened.store, log: false, readMaxBytes: 1024 * 1024 });
    base.byDefault = await byDefault.listen(0);
    base.oneMiB = await oneMiB.listen(0);
    await fill(base.byDefault, 'big');
  }, 60_000);
  afterAll(async () => {
    await byDefault.close();
    await oneMiB.close();
    await opened.close();
  });

  it('the official client, live: false, reads all 1,000 messages (1.1 MB) by default', async () => {
    const res = await stream({ url: `${base.byDefault}/big`, offset: '-1', live: false });
    const items = await res.json();
    expect(indexes(items)).toEqual(messages.map((m) => m.i));
    expect(res.upToDate).toBe(true);
  });

  it('with a 1 MiB limit it stops at the first response, which says it is not up to date', async () => {
    const raw = await fetch(`${base.oneMiB}/big?offset=-1`);
    expect(raw.headers.get('stream-up-to-date')).toBeNull();
    const first = ((await raw.json()) as unknown[]).length;
    expect(first).toBeLessThan(COUNT);
    const res = await stream({ url: `${base.oneMiB}/big`, offset: '-1', live: false });
    expect((await res.json()).length).toBe(first);
  });

  it('readMaxMessages cuts a response too, without Stream-Up-To-Date', async () => {
    // One message per append: 150 of them.
    const url = `${base.byDefault}/many`;
    expect((await fetch(url, { method: 'PUT', headers: { 'Content-Type': 'application/json' } })).status).toBe(201);
    for (let i = 0; i < 150; i++) {
      const res = await fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ i }) });
      expect(res.status).toBe(204);
    }
    const small = createStreamsServer({ store: opened.store, log: false, readMaxMessages: 100 });
    try {
      const raw = await fetch(`${await small.listen(0)}/many?offset=-1`);
      expect(raw.headers.get('stream-up-to-date')).toBeNull();
      expect(indexes((await raw.json()) as unknown[])).toEqual(Array.from({ length: 100 }, (_, i) => i));
    } finally {
      await small.close();
    }
  });

  it('with a 1 MiB limit, live: true follows Stream-Next-Offset to the end', async () => {
    const res = await stream({ url: `${base.oneMiB}/big`, offset: '-1', live: true });
    const items = await res.json();
    expect(indexes(items)).toEqual(messages.map((m) => m.i));
  });
});
