// The Hono binding under @hono/node-server: a hang-up does not free the key, the error
// handler's answer is what is kept, and replays equal the first response byte for byte.
import { setTimeout as sleep } from 'node:timers/promises';
import { serve, type ServerType } from '@hono/node-server';
import { describeStoreBackends, freshNamespace, type StoreSet } from '@stowage/test-stores';
import { Hono } from 'hono';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { idempotency } from '../src/hono.js';
import { headerOf, postJson, representation, type RawResponse } from './http.js';

await describeStoreBackends((backend) => {
  let set: StoreSet;
  let server: ServerType;
  let url = '';
  const runs = new Map<string, number>();
  const effects: string[] = [];
  const count = (name: string) => runs.set(name, (runs.get(name) ?? 0) + 1).get(name)!;

  beforeAll(async () => {
    set = await backend.open(freshNamespace());
    const app = new Hono();
    app.onError((err, c) => c.json({ refused: err.message }, 400, { 'X-Error': 'yes' }));
    // A lease shorter than /slow's run (three leases): only the heartbeat keeps its key. 900 ms: a
    // stall of a loaded machine (up to ~600 ms) between two heartbeats does not let it lapse.
    app.use('*', idempotency({ store: set.idempotency(), leaseMs: 900 }));
    app.post('/slow', async (c) => {
      const run = count('slow');
      await sleep(150);
      effects.push(`run ${run}`);
      await sleep(2550);
      return c.json({ run }, 201, { 'X-Run': String(run) });
    });
    app.post('/headers', (c) => {
      count('headers');
      c.header('Link', '<a>', { append: true });
      c.header('Link', '<b>', { append: true });
      c.header('Constructor', 'c');
      c.header('toString', 't');
      return c.body(new Uint8Array(Array.from({ length: 256 }, (_, i) => i)), 201, { 'Content-Type': 'application/octet-stream' });
    });
    app.post('/stream', (c) => {
      count('stream');
      const parts = ['one ', 'two ', 'three'];
      const stream = new ReadableStream<Uint8Array>({
        async pull(controller) {
          await sleep(5);
          const next = parts.shift();
          if (next === undefined) controller.close();
          else controller.enqueue(new TextEncoder().encode(next));
        },
      });
      return c.body(stream, 200, { 'Content-Type': 'text/plain' });
    });
    // The handler reads the Fetch Request itself, or HonoRequest after a validator-like read.
    app.post('/raw', async (c) => c.json({ got: await c.req.raw.json() }, 201));
    app.post(
      '/read-before',
      async (c, next) => {
        await c.req.json();
        await next();
      },
      async (c) => c.json({ got: await c.req.json(), text: await c.req.text() }, 201),
    );
    app.post('/throws', () => {
      count('throws');
      throw new Error('no such product');
    });
    await new Promise<void>((resolve) => {
      server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, (info) => {
        url = `http://127.0.0.1:${info.port}`;
        resolve();
      });
    });
  });
  afterAll(async () => {
    await new Promise((r) => server.close(r));
    await set.close();
  });

  it('a hang-up does not free the key: 409 while it runs, one run, later retries replay it', async () => {
    const started = Date.now();
    await expect(postJson(`${url}/slow`, 'k-hangup', {}, { hangUpAfterMs: 100 })).rejects.toThrow('the client hung up');
    while (runs.get('slow') === undefined) await sleep(10); // once the run has begun, not at a set time
    const during = await postJson(`${url}/slow`, 'k-hangup', {});
    await sleep(Math.max(0, 3000 - (Date.now() - started))); // the first run answered at ~2700 ms
    let settled = await postJson(`${url}/slow`, 'k-hangup', {});
    for (let i = 0; settled.status === 409 && i < 100; i++) {
      await sleep(50); // a loaded machine: the run has not ended yet
      settled = await postJson(`${url}/slow`, 'k-hangup', {});
    }
    const later = [settled, await postJson(`${url}/slow`, 'k-hangup', {})];
    expect([during.status, ...later.map((r) => r.status)]).toEqual([409, 201, 201]);
    expect(headerOf(during, 'retry-after')).toBe('1');
    expect(runs.get('slow')).toBe(1);
    expect(effects).toEqual(['run 1']);
    for (const r of later) {
      expect(headerOf(r, 'x-run')).toBe('1');
      expect(JSON.parse(r.body.toString())).toEqual({ run: 1 });
    }
  });

  it('leaves the body readable: c.req.raw with a key and without one, and after an earlier read', async () => {
    const plain = await fetch(`${url}/raw`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"a":1}' });
    expect([plain.status, await plain.text()]).toEqual([201, '{"got":{"a":1}}']);
    const keyed = await postJson(`${url}/raw`, 'k-raw', { a: 2 });
    expect([keyed.status, keyed.body.toString()]).toEqual([201, '{"got":{"a":2}}']);
    const replay = await postJson(`${url}/raw`, 'k-raw', { a: 2 });
    expect([headerOf(replay, 'idempotent-replayed'), replay.body.toString()]).toEqual(['true', '{"got":{"a":2}}']);
    expect((await postJson(`${url}/raw`, 'k-raw', { a: 3 })).status).toBe(422); // the fingerprint saw the body
    const before = await postJson(`${url}/read-before`, 'k-read-before', { b: 1 });
    expect([before.status, before.body.toString()]).toEqual([201, '{"got":{"b":1},"text":"{\\"b\\":1}"}']);
    expect((await postJson(`${url}/read-before`, 'k-read-before', { b: 2 })).status).toBe(422);
  });

  const withoutReplayed = (r: RawResponse) => representation(r).filter(([n]) => n.toLowerCase() !== 'idempotent-replayed');

  for (const path of ['/headers', '/stream', '/throws']) {
    it(`replays ${path} byte for byte${path === '/throws' ? " (the error handler's 400 is what is kept)" : ''}`, async () => {
      // A key is unique per client: each route gets its own (one key on two routes is 422).
      const first = await postJson(`${url}${path}`, `k${path.slice(1)}`, {});
      const replay = await postJson(`${url}${path}`, `k${path.slice(1)}`, {});
      expect(headerOf(first, 'idempotent-replayed')).toBeUndefined();
      expect(headerOf(replay, 'idempotent-replayed')).toBe('true');
      expect(replay.status).toBe(first.status);
      expect(withoutReplayed(replay)).toEqual(representation(first));
      expect(replay.body.equals(first.body)).toBe(true);
      expect(runs.get(path.slice(1))).toBe(1);
      if (path === '/throws') expect([first.status, headerOf(first, 'x-error')]).toEqual([400, 'yes']);
      if (path === '/headers') {
        expect(representation(first).filter(([n]) => ['link', 'constructor', 'tostring'].includes(n))).toEqual([
          ['constructor', 'c'],
          ['link', '<a>, <b>'], // Fetch Headers join repeated fields
          ['tostring', 't'],
        ]);
      }
    });
  }
});
