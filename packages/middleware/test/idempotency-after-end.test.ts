import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';
import { describeStoreBackends, freshNamespace, type StoreSet } from '@stowage/test-stores';
import compression from 'compression';
import express, { type NextFunction, type Request, type Response } from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { idempotency } from '../src/express.js';
import { headerOf, send } from './http.js';

// A handler that answers and then goes on: throws (a failing audit log after res.json), ends
// again, or answers again. Behind idempotency() the client must get its first answer, the
// retry must replay exactly that, and the process must live on, whatever error handler runs.
// The middleware holds the end until the response is stored; a second answer used to go out
// first, and the held end then wrote after it: 'write after end' on a response nobody
// listened to ended the process. Refusing the second answer (ERR_HTTP_HEADERS_SENT) was no
// better: Express's final handler then destroyed the socket before the held end went out.

type Handler = (req: Request, res: Response) => unknown;
const HANDLERS: Record<string, Handler> = {
  'answers, then throws': async (_req, res) => {
    res.status(201).json({ created: true });
    throw new Error('audit log failed');
  },
  'answers, then ends again': (_req, res) => {
    res.status(201).json({ created: true });
    res.end();
  },
  'answers twice': async (_req, res) => {
    res.status(201).json({ created: true });
    res.status(202).json({ b: 2 });
  },
  'answers twice, at once': (_req, res) => {
    res.status(201).json({ created: true });
    res.status(202).json({ b: 2 });
  },
  // The head is out before the end: the end is not held.
  'writes, ends, then throws': async (_req, res) => {
    res.status(201).type('application/json');
    res.write('{"created":');
    res.end('true}');
    throw new Error('audit log failed');
  },
  'writes its head, ends, then throws': async (_req, res) => {
    res.writeHead(201, { 'content-type': 'application/json' });
    res.end('{"created":true}');
    throw new Error('audit log failed');
  },
  'writes its head, then sets another status and ends': (_req, res) => {
    res.writeHead(201, { 'content-type': 'application/json' });
    res.write('{"created":');
    res.status(500);
    res.end('true}');
  },
  'ends, then writes and ends again': (_req, res) => {
    res.status(201).type('application/json').end('{"created":true}');
    res.write('more', () => undefined);
    res.end('second');
  },
};

/** The error handlers a handler's throw may meet. */
const ERROR_HANDLERS: Record<string, ((err: Error, req: Request, res: Response, next: NextFunction) => void) | undefined> = {
  'an error handler that checks headersSent': (err, _req, res, _next) => {
    if (!res.headersSent) res.status(500).json({ error: err.message });
  },
  'an error handler that does not': (err, _req, res, _next) => void res.status(500).json({ error: err.message }),
  "Express's own": undefined,
};

interface Answer {
  status: number;
  body: string;
  replayed: boolean;
}

/** A POST on a connection of its own (Express's final handler may destroy the last one). */
async function post(url: string, key: string): Promise<Answer> {
  const res = await send(url, { method: 'POST', headers: { 'content-type': 'application/json', 'idempotency-key': key }, body: '{}' });
  return { status: res.status, body: res.body.toString(), replayed: headerOf(res, 'idempotent-replayed') === 'true' };
}

/** The retry once the first run's response is stored (409 until then when its end was not held). */
async function replayOf(url: string, key: string): Promise<Answer> {
  for (let i = 0; i < 100; i++) {
    const answer = await post(url, key);
    if (answer.status !== 409) return answer;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error('still 409 after 100 retries');
}

await describeStoreBackends((backend) => {
  let set: StoreSet;
  let base: string;
  let server: ReturnType<express.Express['listen']>;
  const runs = new Map<string, number>();
  beforeAll(async () => {
    set = await backend.open(freshNamespace());
    const guard = idempotency({ store: set.idempotency(), timeoutMs: 5000 });
    const counted =
      (handler: Handler): Handler =>
      (req, res) => {
        const key = String(req.headers['idempotency-key']);
        runs.set(key, (runs.get(key) ?? 0) + 1);
        return handler(req, res);
      };
    const app = express();
    app.use(express.json());
    Object.values(ERROR_HANDLERS).forEach((onError, e) => {
      const router = express.Router();
      for (const [h, handler] of Object.values(HANDLERS).entries()) router.post(`/${h}`, guard, counted(handler));
      if (onError !== undefined) router.use(onError);
      app.use(`/${e}`, router);
    });
    // compression() before idempotency(), a response written in chunks.
    app.post(
      '/gzip',
      compression({ threshold: 0 }),
      guard,
      counted((_req, res) => {
        res.status(201).type('text/plain');
        for (let i = 0; i < 50; i++) res.write(`line ${i}\n`);
        res.end('end\n');
      }),
    );
    server = app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server?.closeAllConnections();
    await new Promise((r) => server?.close(r));
    await set?.close();
  });

  Object.keys(ERROR_HANDLERS).forEach((errorHandler, e) => {
    describe(`a handler that goes on after its answer, with ${errorHandler}`, () => {
      Object.keys(HANDLERS).forEach((name, h) => {
        it(`${name}: the client gets the first answer, the retry replays it, one run`, async () => {
          const key = `after-end-${e}-${h}-${freshNamespace()}`;
          const first = { status: 201, body: '{"created":true}', replayed: false };
          expect(await post(`${base}/${e}/${h}`, key)).toEqual(first);
          expect(await replayOf(`${base}/${e}/${h}`, key)).toEqual({ ...first, replayed: true });
          expect(runs.get(key)).toBe(1);
        });
      });
    });
  });

  it('compression() before it: a response written in chunks replays whole, compressed or not', async () => {
    const key = `gzip-${freshNamespace()}`;
    const expected = `${Array.from({ length: 50 }, (_, i) => `line ${i}\n`).join('')}end\n`;
    const raw = async (encoding: string) => {
      // node:http, not fetch: fetch would decode the body and keep the header.
      const res = await send(`${base}/gzip`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'idempotency-key': key, 'accept-encoding': encoding },
        body: '{}',
      });
      const gzip = headerOf(res, 'content-encoding') === 'gzip';
      const text = (gzip ? gunzipSync(res.body) : res.body).toString();
      return { status: res.status, replayed: headerOf(res, 'idempotent-replayed') ?? null, gzip, text };
    };
    // compression() writes the head before the end, so the response ends at once and is stored after:
    // a retry in between gets 409 (never a second run), then the replay.
    const stored = async (encoding: string) => {
      for (let i = 0; i < 100; i++) {
        const answer = await raw(encoding);
        if (answer.status !== 409) return answer;
        await new Promise((r) => setTimeout(r, 20));
      }
      throw new Error('still 409 after 100 retries');
    };
    expect(await raw('gzip')).toEqual({ status: 201, replayed: null, gzip: true, text: expected });
    expect(await stored('gzip')).toEqual({ status: 201, replayed: 'true', gzip: true, text: expected });
    expect(await raw('identity')).toEqual({ status: 201, replayed: 'true', gzip: false, text: expected });
    expect(runs.get(key)).toBe(1);
  });
});
