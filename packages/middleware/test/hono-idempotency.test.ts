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
    app.use('*', idempotency({ store: set.idempotency(), leaseMs: 300 }));
    app.post('/slow', async (c) => {
      const run = count('slow');
      await sleep(150);
      effects.push(`run ${run}`);
      await sleep(450);
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

  it('a hang-up does not free the key: 409 at 250 ms, one run, later retries replay it', async () => {
    const started = Date.now();
    await expect(postJson(`${url}/slow`, 'k-hangup', {}, { hangUpAfterMs: 100 })).rejects.toThrow('the client hung up');
    await sleep(250 - (Date.now() - started));
    const during = await postJson(`${url}/slow`, 'k-hangup', {});
    await sleep(Math.max(0, 1000 - (Date.now() - started)));
    const later = [await postJson(`${url}/slow`, 'k-hangup', {}), await postJson(`${url}/slow`, 'k-hangup', {})];
    expect([during.status, ...later.map((r) => r.status)]).toEqual([409, 201, 201]);
    expect(headerOf(during, 'retry-after')).toBe('1');
    expect(runs.get('slow')).toBe(1);
    expect(effects).toEqual(['run 1']);
    for (const r of later) {
      expect(headerOf(r, 'x-run')).toBe('1');
      expect(JSON.parse(r.body.toString())).toEqual({ run: 1 });
    }
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
