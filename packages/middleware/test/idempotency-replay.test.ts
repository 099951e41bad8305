// Byte-exact replays on Express: status, every header line however the handler set it (in
// order, with its case and repeats), and the body bytes.
import type { ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { describeStoreBackends, freshNamespace, type StoreSet } from '@stowage/test-stores';
import express from 'express';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { idempotency } from '../src/express.js';
import { headerOf, listen, postJson, representation, type RawResponse, type Running } from './http.js';

const ALL_BYTES = Buffer.from(Array.from({ length: 256 }, (_, i) => i));

/** Handlers, each answering in its own way. */
const handlers: Record<string, (res: ServerResponse & express.Response) => void | Promise<void>> = {
  // No header set before: Node writes writeHead's headers as given, bypassing getHeaders().
  'writeHead with an object': (res) =>
    void res.writeHead(201, { 'Content-Type': 'application/json', Location: '/orders/7' }).end('{"id":7}'),
  'writeHead with a flat array and a repeated header': (res) =>
    void res.writeHead(201, ['Content-Type', 'text/plain', 'Link', '</a>; rel="a"', 'Link', '</b>; rel="b"', 'X-Flat', '1']).end('flat'),
  'writeHead with pairs': (res) =>
    void (res.writeHead as (s: number, h: unknown) => ServerResponse)(202, [
      ['Content-Type', 'text/plain'],
      ['X-Pair', 'one'],
      ['X-Pair', 'two'],
      ['x-lower-case', 'v'],
    ]).end('pairs'),
  'writeHead merged into setHeader': (res) => {
    res.setHeader('X-Before', 'b');
    res.setHeader('Content-Type', 'text/plain');
    res.writeHead(201, { Location: '/x', 'X-Before': 'b2' }).end();
  },
  'res.set and a binary body': (res) => void res.set({ 'X-Set': 'a', 'Cache-Control': 'no-store' }).status(200).send(ALL_BYTES),
  'res.json with res.append': (res) => void res.append('Link', '<a>').append('Link', '<b>').status(201).json({ ok: true, name: 'Zoë 🚀' }),
  'a stream piped in': (res) => {
    res.status(201).setHeader('Content-Type', 'text/plain; charset=utf-8');
    Readable.from(
      (async function* () {
        for (const part of ['first ', 'second ', 'third']) {
          await sleep(5);
          yield Buffer.from(part);
        }
      })(),
    ).pipe(res);
  },
  'res.write chunks in several encodings': (res) => {
    res.setHeader('Content-Type', 'application/octet-stream');
    res.write('68656c6c6f', 'hex');
    res.write(new Uint8Array([0, 255, 10]));
    res.write('aGk=', 'base64');
    res.end('ÿend', 'latin1');
  },
  'headers named constructor, __proto__, toString': (res) => {
    res.setHeader('Constructor', 'c');
    res.setHeader('__proto__', 'p');
    res.setHeader('toString', 't');
    res.setHeader('hasOwnProperty', ['h1', 'h2']);
    res.status(201).json({ ok: true });
  },
  'writeHead with an object keyed constructor, __proto__, toString': (res) =>
    void res.writeHead(201, { Constructor: 'c', ['__proto__']: 'p', toString: 't', valueOf: 'v' } as Record<string, string>).end('odd'),
};

await describeStoreBackends((backend) => {
  let set: StoreSet;
  let app: Running;
  const runs = new Map<string, number>();
  beforeAll(async () => {
    set = await backend.open(freshNamespace());
    const a = express();
    a.disable('x-powered-by'); // nothing sets a header before the handler
    a.use(express.json());
    a.use(idempotency({ store: set.idempotency() }));
    for (const [name, handler] of Object.entries(handlers)) {
      a.post(`/${encodeURIComponent(name)}`, (_req, res) => {
        runs.set(name, (runs.get(name) ?? 0) + 1);
        return handler(res as ServerResponse & express.Response);
      });
    }
    app = await listen(a);
  });
  afterAll(async () => {
    await app.close();
    await set.close();
  });

  const withoutReplayed = (r: RawResponse) => representation(r).filter(([n]) => n !== 'Idempotent-Replayed');
  // A key is unique per client: each route gets its own (one key on two routes is 422).
  const keyOf = (name: string): string => `k${Object.keys(handlers).indexOf(name)}`;

  for (const name of Object.keys(handlers)) {
    it(`replays ${name} byte for byte`, async () => {
      const url = `${app.url}/${encodeURIComponent(name)}`;
      const first = await postJson(url, keyOf(name), {});
      // A response whose head was out before its end (writeHead, a pipe) is stored after it
      // ends: a retry in between gets 409 (and never a second run), then the replay.
      let replay = await postJson(url, keyOf(name), {});
      for (let i = 0; replay.status === 409 && i < 100; i++) {
        await new Promise((r) => setTimeout(r, 20));
        replay = await postJson(url, keyOf(name), {});
      }
      expect(headerOf(first, 'idempotent-replayed')).toBeUndefined();
      expect(headerOf(replay, 'idempotent-replayed')).toBe('true');
      expect(replay.status).toBe(first.status);
      expect(withoutReplayed(replay)).toEqual(representation(first));
      expect(replay.body.equals(first.body)).toBe(true);
      expect(first.body.byteLength).toBeGreaterThanOrEqual(0);
      expect(runs.get(name)).toBe(1);
    });
  }

  it('keeps every line of the answers above (a check of the check)', async () => {
    const flat = await postJson(
      `${app.url}/${encodeURIComponent('writeHead with a flat array and a repeated header')}`,
      keyOf('writeHead with a flat array and a repeated header'),
      {},
    );
    expect(representation(flat)).toEqual([
      ['Content-Type', 'text/plain'],
      ['Link', '</a>; rel="a"'],
      ['Link', '</b>; rel="b"'],
      ['X-Flat', '1'],
      ['Idempotent-Replayed', 'true'],
    ]);
    const odd = await postJson(
      `${app.url}/${encodeURIComponent('headers named constructor, __proto__, toString')}`,
      keyOf('headers named constructor, __proto__, toString'),
      {},
    );
    expect(representation(odd).filter(([n]) => !['Content-Type', 'ETag'].includes(n))).toEqual([
      ['Constructor', 'c'],
      ['__proto__', 'p'],
      ['toString', 't'],
      ['hasOwnProperty', 'h1'],
      ['hasOwnProperty', 'h2'],
      ['Idempotent-Replayed', 'true'],
    ]);
    const written = await postJson(
      `${app.url}/${encodeURIComponent('res.write chunks in several encodings')}`,
      keyOf('res.write chunks in several encodings'),
      {},
    );
    expect(
      written.body.equals(
        Buffer.concat([Buffer.from('hello'), Buffer.from([0, 255, 10]), Buffer.from('hi'), Buffer.from([0xff]), Buffer.from('end')]),
      ),
    ).toBe(true);
  });
});
