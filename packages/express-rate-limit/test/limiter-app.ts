import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { RateLimitStore } from '@stowage/core';
import express from 'express';
import { rateLimit, type Options } from 'express-rate-limit';
import { StowageRateLimitStore, type StowageRateLimitStoreOptions } from '../src/index.js';

export interface LimiterApp {
  url: string;
  limiter: ReturnType<typeof rateLimit>;
  store: StowageRateLimitStore;
  /** What express-rate-limit logged: `<its message> <our error code>`. */
  logged: string[];
  /** Errors passed on to Express's default error handler (a 500): `<code> <message>`. */
  errors: string[];
  close(): Promise<void>;
}

/**
 * A real Express app with the real express-rate-limit on our store. Routes: `/ok` (200),
 * `/fail` (500), and `/fail-at?at=<epoch ms>` (500, answered at that time).
 */
export async function limiterApp(
  store: RateLimitStore,
  options: Partial<Options>,
  storeOptions: Partial<StowageRateLimitStoreOptions> = {},
): Promise<LimiterApp> {
  const logged: string[] = [];
  const errors: string[] = [];
  const log = (error: unknown, message?: string) => void logged.push(`${message} ${(error as { code?: string }).code ?? String(error)}`);
  const ours = new StowageRateLimitStore({ store, ...storeOptions });
  const a = express();
  const limiter = rateLimit({
    store: ours,
    standardHeaders: 'draft-8',
    legacyHeaders: false,
    keyGenerator: (req) => String(req.headers['x-client'] ?? 'anonymous'),
    logger: { error: log, warn: log },
    ...options,
  });
  a.use(limiter);
  a.get('/ok', (_req, res) => void res.json({ ok: true }));
  a.get('/fail', (_req, res) => void res.status(500).json({ ok: false }));
  a.get('/fail-at', async (req, res) => {
    await sleep(Math.max(0, Number(req.query.at) - Date.now()));
    res.status(500).json({ ok: false });
  });
  a.use((err: { code?: string; message?: string }, _req: express.Request, _res: express.Response, next: express.NextFunction) => {
    errors.push(`${err.code} ${err.message}`);
    next(err);
  });
  return new Promise((resolve) => {
    const server = a.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      resolve({
        url: `http://127.0.0.1:${port}`,
        limiter,
        store: ours,
        logged,
        errors,
        close: () => new Promise<void>((r) => (server.closeAllConnections(), server.close(() => r()))),
      });
    });
  });
}

export const get = (a: LimiterApp, path: string, client: string): Promise<Response> =>
  fetch(`${a.url}${path}`, { headers: { 'x-client': client } });

/** Statuses of `n` requests sent one after another. */
export async function statuses(a: LimiterApp, path: string, client: string, n: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push((await get(a, path, client)).status);
  return out;
}

export { nextWindow, roomInWindow } from '@stowage/test-stores';

/** Sleeps until epoch ms `at`. */
export const sleepUntil = (at: number): Promise<void> => sleep(Math.max(0, at - Date.now()));
