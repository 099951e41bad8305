// The default key of Express's rateLimit() is the client's address. A client that hangs up while
// an earlier middleware awaits has none left to read (Node forgets it with the socket): such a
// request used to skip the limit, and its handler ran uncounted (10 of 10 past a limit of 3).
import { request } from 'node:http';
import { connect } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describeStoreBackends, freshNamespace, type StoreSet } from '@stowage/test-stores';
import express from 'express';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { rateLimit } from '../src/express.js';
import { listen } from './http.js';

const LIMIT = 3;

/** An app whose limiter comes after an awaiting middleware (a session load, an auth lookup). */
function app(set: StoreSet) {
  const state = { runs: 0, errors: [] as string[] };
  const a = express();
  a.use((_req, _res, next) => void sleep(50).then(() => next()));
  a.use(rateLimit({ store: set.rateLimits(), policies: { algorithm: 'fixed-window', limit: LIMIT, windowMs: 60_000 } }));
  a.post('/send', (_req, res) => {
    state.runs++;
    res.json({ sent: true });
  });
  a.use((err: Error, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
    state.errors.push(err.message);
    res.status(500).json({ error: err.message });
  });
  return { a, state };
}

/** Sends a POST and closes the connection at once, without reading the answer. */
function sendAndLeave(url: string): Promise<void> {
  const { port } = new URL(url);
  return new Promise((resolve) => {
    const s = connect(Number(port), '127.0.0.1', () => {
      s.end('POST /send HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n');
      s.destroy();
    });
    s.on('error', () => {});
    s.on('close', () => resolve());
  });
}

await describeStoreBackends((backend) => {
  let set: StoreSet;
  beforeAll(async () => {
    set = await backend.open(freshNamespace());
  });
  afterAll(() => set.close());

  it('clients that hang up before the limiter reads their address never run the handler uncounted', async () => {
    const { a, state } = app(set);
    const server = await listen(a);
    try {
      await Promise.all(Array.from({ length: 10 }, () => sendAndLeave(server.url)));
      await sleep(300); // past the 50 ms step and the store call of any request that got through
      const goneRuns = state.runs;
      expect(goneRuns).toBeLessThanOrEqual(LIMIT);
      expect(state.errors).toEqual([]);
      // Every run was counted: the rest of the budget is what is left for clients that stay.
      const statuses: number[] = [];
      for (let i = 0; i < LIMIT + 1; i++) statuses.push((await fetch(`${server.url}/send`, { method: 'POST' })).status);
      const allowed = LIMIT - goneRuns;
      expect(statuses).toEqual([...Array.from({ length: allowed }, () => 200), ...Array.from({ length: LIMIT + 1 - allowed }, () => 429)]);
    } finally {
      await server.close();
    }
  });

  it('a live connection without an address (a Unix socket) is refused, never let through', async () => {
    const a = express();
    let runs = 0;
    a.use(rateLimit({ store: set.rateLimits(), policies: { algorithm: 'fixed-window', limit: LIMIT, windowMs: 60_000 } }));
    a.get('/', (_req, res) => void (runs++, res.send('ran')));
    let error = '';
    a.use((err: Error, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
      error = err.message;
      res.status(500).end();
    });
    const dir = mkdtempSync(join(tmpdir(), 'stowage-uds-'));
    const path = join(dir, 's.sock');
    const server = a.listen(path);
    await new Promise((r) => server.once('listening', r));
    try {
      const status = await new Promise<number>((resolve, reject) => {
        request({ socketPath: path, path: '/' }, (res) => {
          res.resume();
          resolve(res.statusCode!);
        })
          .on('error', reject)
          .end();
      });
      expect(status).toBe(500);
      expect(runs).toBe(0);
      expect(error).toMatch(/cannot see the client address .*pass options\.key/);
    } finally {
      server.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
