// Hono's rateLimit() under @hono/node-server keys by the socket's address. A client that hangs
// up while an earlier middleware awaits has none left to read: its handler does not run, and
// that is not an error of the app (it was INVALID_ARGUMENT, "cannot see the client address").
import type { AddressInfo } from 'node:net';
import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { serve } from '@hono/node-server';
import { describeStoreBackends, freshNamespace, type StoreSet } from '@stowage/test-stores';
import { Hono } from 'hono';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { rateLimit } from '../src/hono.js';

const LIMIT = 3;

await describeStoreBackends((backend) => {
  let set: StoreSet;
  beforeAll(async () => {
    set = await backend.open(freshNamespace());
  });
  afterAll(() => set.close());

  it('clients that hang up before the limiter reads their address: no handler run, no error, the budget intact', async () => {
    let runs = 0;
    const errors: string[] = [];
    const app = new Hono();
    app.use(async (_c, next) => {
      await sleep(50);
      await next();
    });
    app.use(rateLimit({ store: set.rateLimits(), policies: { algorithm: 'fixed-window', limit: LIMIT, windowMs: 60_000 } }));
    app.post('/send', (c) => {
      runs++;
      return c.json({ sent: true });
    });
    app.onError((err, c) => {
      errors.push(err.message);
      return c.text('error', 500);
    });
    const { server, port } = await new Promise<{ server: ReturnType<typeof serve>; port: number }>((resolve) => {
      const s = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, (info: AddressInfo) => resolve({ server: s, port: info.port }));
    });
    try {
      await Promise.all(
        Array.from(
          { length: 10 },
          () =>
            new Promise<void>((resolve) => {
              const s = connect(port, '127.0.0.1', () => {
                s.end('POST /send HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n');
                s.destroy();
              });
              s.on('error', () => {});
              s.on('close', () => resolve());
            }),
        ),
      );
      await sleep(300);
      const goneRuns = runs;
      expect(goneRuns).toBeLessThanOrEqual(LIMIT);
      expect(errors).toEqual([]);
      const statuses: number[] = [];
      for (let i = 0; i < LIMIT + 1; i++) statuses.push((await fetch(`http://127.0.0.1:${port}/send`, { method: 'POST' })).status);
      const allowed = LIMIT - goneRuns;
      expect(statuses).toEqual([...Array.from({ length: allowed }, () => 200), ...Array.from({ length: LIMIT + 1 - allowed }, () => 429)]);
    } finally {
      await new Promise((r) => server.close(r));
    }
  });
});
