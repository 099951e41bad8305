import type { AddressInfo } from 'node:net';
import { describeStoreBackends, freshNamespace, type StoreSet } from '@stowage/test-stores';
import express, { type NextFunction, type Request, type Response } from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { idempotency } from '../src/express.js';

// A handler that answers and then goes on: throws (a failing audit log after res.json), ends
// again, or answers again. Behind idempotency() the client must get what it gets without it,
// the retry must replay exactly that, and the process must live on. The middleware holds the
// end until the response is stored; a second answer used to go out first, and the held end
// then wrote after it: 'write after end' on a response nobody listened to ended the process.

type Handler = (req: Request, res: Response) => unknown;
const HANDLERS: Record<string, Handler> = {
  'answers, then throws': async (_req, res) => {
    res.status(201).json({ created: true });
    throw new Error('audit log failed');
  },
  'answers, then ends again': (_req, res) => {
    res.status(201).json({ a: 1 });
    res.end();
  },
  'answers twice': async (_req, res) => {
    res.status(201).json({ a: 1 });
    res.status(202).json({ b: 2 });
  },
};

/** Without the middleware this one ends the process ('write after end' on the response). */
const WRITES_AFTER_END: Handler = (_req, res) => {
  res.status(200).type('text/plain').end('first');
  res.write('more', () => undefined);
  res.end('second');
};

interface Answer {
  status: number;
  body: string;
  replayed: boolean;
}

async function post(url: string, key: string): Promise<Answer> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', 'idempotency-key': key }, body: '{}' });
  return { status: res.status, body: await res.text(), replayed: res.headers.get('idempotent-replayed') === 'true' };
}

await describeStoreBackends((backend) => {
  let set: StoreSet;
  let base: string;
  let server: ReturnType<express.Express['listen']>;
  const seenByErrorHandler: boolean[] = [];
  beforeAll(async () => {
    set = await backend.open(freshNamespace());
    const app = express();
    app.use(express.json());
    const guard = idempotency({ store: set.idempotency(), timeoutMs: 5000 });
    Object.values(HANDLERS).forEach((handler, i) => {
      app.post(`/plain/${i}`, handler);
      app.post(`/idem/${i}`, guard, handler);
    });
    // The usual error handler: it answers only when nothing was sent yet.
    app.post('/idem/writes-after-end', guard, WRITES_AFTER_END);
    app.use((err: Error, _req: Request, res: Response, _next: NextFunction) => {
      seenByErrorHandler.push(res.headersSent);
      if (!res.headersSent) res.status(500).json({ error: err.message });
    });
    server = app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server?.closeAllConnections();
    await new Promise((r) => server?.close(r));
    await set?.close();
  });

  describe('a handler that goes on after its answer', () => {
    Object.keys(HANDLERS).forEach((name, i) => {
      it(`${name}: the client gets what it gets without the middleware, and the retry replays it`, async () => {
        const key = `after-end-${i}-${freshNamespace()}`;
        const plain = await post(`${base}/plain/${i}`, key);
        const first = await post(`${base}/idem/${i}`, key);
        expect({ status: first.status, body: first.body, replayed: first.replayed }).toEqual({ ...plain, replayed: false });
        expect(await post(`${base}/idem/${i}`, key)).toEqual({ ...plain, replayed: true });
        // still serving
        expect((await post(`${base}/plain/0`, `${key}-after`)).status).toBe(201);
      });
    });

    it('ends, then writes and ends again: the first answer and its replay, and the process lives on', async () => {
      const key = `writes-after-end-${freshNamespace()}`;
      expect(await post(`${base}/idem/writes-after-end`, key)).toEqual({ status: 200, body: 'first', replayed: false });
      expect(await post(`${base}/idem/writes-after-end`, key)).toEqual({ status: 200, body: 'first', replayed: true });
    });

    it('the error handler saw the response as sent every time', () => {
      expect(seenByErrorHandler.length).toBeGreaterThan(0);
      expect(seenByErrorHandler.every((sent) => sent)).toBe(true);
    });
  });
});
