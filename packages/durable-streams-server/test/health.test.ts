import { closedPort } from '@stowage/conformance';
import { postgresHealth } from '@stowage/stores-postgres';
import { PostgresStreamStore } from '@stowage/stores-postgres';
import { RedisStreamStore, redisHealth } from '@stowage/stores-redis';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createStreamsServer, type StreamsServer } from '../src/index.js';
import { CliProcess } from './cli-process.js';
import type { OpenedTestStore } from './helpers.js';
import { describeEveryStore } from './stores.js';

// `{base}__ds/health/live` and `{base}__ds/health/ready`, under the protocol's reserved prefix:
// live while the process serves, ready while the store answers and the server is not closing.

async function health(base: string, which: 'live' | 'ready', method = 'GET') {
  const res = await fetch(`${base}/__ds/health/${which}`, { method });
  const text = await res.text();
  return { status: res.status, cacheControl: res.headers.get('cache-control'), body: text === '' ? undefined : JSON.parse(text) };
}

await describeEveryStore((open) => {
  let opened: OpenedTestStore;
  let server: StreamsServer;
  let base = '';
  beforeAll(async () => {
    opened = await open();
    // The default probe (a `head` on the store), under a base path.
    server = createStreamsServer({ store: opened.store, basePath: '/streams', log: false });
    base = `${await server.listen(0)}/streams`;
  }, 60_000);
  afterAll(async () => {
    await server.close();
    await opened.close();
  });

  it('live and ready answer 200 with JSON, never cached; HEAD has no body; other methods 405', async () => {
    expect(await health(base, 'live')).toEqual({ status: 200, cacheControl: 'no-store', body: { status: 'live' } });
    const ready = await health(base, 'ready');
    expect(ready).toMatchObject({ status: 200, cacheControl: 'no-store', body: { status: 'ready', store: { ok: true } } });
    expect(typeof ready.body.store.latencyMs).toBe('number');
    expect(await health(base, 'ready', 'HEAD')).toMatchObject({ status: 200, body: undefined });
    const put = await fetch(`${base}/__ds/health/ready`, { method: 'PUT', headers: { 'Content-Type': 'text/plain' } });
    expect(put.status).toBe(405);
    expect(put.headers.get('allow')).toBe('GET, HEAD, OPTIONS');
    // Not a stream: nothing was created under that name.
    expect(await opened.store.head('__ds/health/ready')).toBeUndefined();
  });

  it('ready answers 503 once the server closes; live stays 200 while it serves', async () => {
    const own = createStreamsServer({ store: opened.store, log: false });
    const url = await own.listen(0);
    // The handler closes first, as the server's close() does before it stops listening.
    own.handler.close();
    const res = await fetch(`${url}/__ds/health/ready`);
    expect(res.status).toBe(503);
    expect(res.headers.get('connection')).toBe('close');
    expect(await res.json()).toEqual({ status: 'shutting-down' });
    await own.close();
  });
});

describe('ready on a store that does not answer (a port nothing listens on, 127.0.0.1)', () => {
  it('PostgreSQL: 503 with the default probe and with postgresHealth; live 200', async () => {
    const pool = new pg.Pool({
      connectionString: `postgres://postgres@127.0.0.1:${await closedPort()}/test`,
      connectionTimeoutMillis: 1000,
    });
    pool.on('error', () => {});
    const store = new PostgresStreamStore({ pool });
    const servers = [
      createStreamsServer({ store, log: false }),
      createStreamsServer({ store, log: false, health: () => postgresHealth(pool) }),
    ];
    try {
      for (const server of servers) {
        const url = await server.listen(0);
        expect(await health(url, 'live')).toMatchObject({ status: 200 });
        const ready = await health(url, 'ready');
        expect(ready).toMatchObject({ status: 503, body: { status: 'unavailable', store: { ok: false } } });
        // The probe's error (host, port) goes to the log, not to the client.
        expect(JSON.stringify(ready.body)).not.toMatch(/127\.0\.0\.1|ECONNREFUSED/);
      }
    } finally {
      for (const server of servers) await server.close();
      await store.close();
      await pool.end();
    }
  });

  it('Redis: 503 with redisHealth and with the default probe', async () => {
    const client = new Redis(`redis://127.0.0.1:${await closedPort()}`, { maxRetriesPerRequest: 0, enableOfflineQueue: false });
    client.on('error', () => {});
    const store = new RedisStreamStore({ client });
    const servers = [
      createStreamsServer({ store, log: false }),
      createStreamsServer({ store, log: false, health: () => redisHealth(client) }),
    ];
    try {
      for (const server of servers) {
        const url = await server.listen(0);
        expect(await health(url, 'live')).toMatchObject({ status: 200 });
        expect(await health(url, 'ready')).toMatchObject({ status: 503, body: { status: 'unavailable', store: { ok: false } } });
      }
    } finally {
      for (const server of servers) await server.close();
      await store.close();
      client.disconnect();
    }
  });

  it('the CLI: ready 503 on a closed Redis port, 200 on memory', async () => {
    const down = new CliProcess(['--store', `redis://127.0.0.1:${await closedPort()}`, '--quiet']);
    try {
      const url = await down.url;
      expect(await health(url, 'ready')).toMatchObject({ status: 503, body: { status: 'unavailable' } });
      expect(await health(url, 'live')).toMatchObject({ status: 200 });
    } finally {
      expect(await down.stop()).toBe(0);
    }
    const up = new CliProcess(['--store', 'memory', '--base-path', '/s']);
    try {
      expect(await health(await up.url, 'ready')).toMatchObject({ status: 200, body: { status: 'ready' } });
    } finally {
      expect(await up.stop()).toBe(0);
    }
  });
});
