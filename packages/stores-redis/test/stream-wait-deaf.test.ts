import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import type { BackgroundErrorContext } from '@stowage/core';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisStreamStore } from '../src/index.js';
import { connect as connectWith, DRIVERS, type TestClient } from './clients.js';

// A private redis-server: killing pub/sub clients or refusing connections on the shared one
// would break other suites.
let server: ChildProcess;
let port = 0;
const clients: { close(): void }[] = [];
/** An admin connection (ioredis). */
const connect = () => {
  const c = new Redis({ host: '127.0.0.1', port, lazyConnect: false });
  c.on('error', () => {});
  clients.push({ close: () => c.disconnect() });
  return c;
};

/** Polls until `ready()` holds; the limit only ends a hung test, it measures nothing. */
async function until(ready: () => boolean | Promise<boolean>): Promise<void> {
  for (let i = 0; i < 3000 && !(await ready()); i++) await new Promise((r) => setTimeout(r, 10));
  expect(await ready()).toBe(true);
}

beforeAll(async () => {
  port = await new Promise<number>((resolve) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const p = (probe.address() as { port: number }).port;
      probe.close(() => resolve(p));
    });
  });
  server = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no'], {
    stdio: 'ignore',
  });
  const admin = connect();
  await until(async () => (await admin.ping().catch(() => '')) === 'PONG');
});

afterAll(async () => {
  for (const c of clients) c.close();
  server.kill();
});

const channel = (prefix: string) => `${prefix}{streams}:events`;
const subscribers = async (admin: Redis, prefix = 'deaf:') => ((await admin.pubsub('NUMSUB', channel(prefix))) as [string, number])[1];
const connected = async (admin: Redis) => Number(/connected_clients:(\d+)/.exec(await admin.info('clients'))![1]);
const STORE = '@stowage/stores-redis RedisStreamStore';

describe.each(DRIVERS)('%s', (driver) => {
  /** A store's client on the driver of this block, connected. */
  const storeClient = async (): Promise<TestClient['client']> => {
    const c: TestClient = connectWith(driver, port);
    clients.push(c);
    await c.connected;
    return c.client;
  };
  const prefixOf = (name: string) => `${name}-${driver}:`;

  it('with its subscriber killed and kept out, an append wakes this process’s waiter; resubscribed, other stores’ appends wake it again', async () => {
    const admin = connect();
    const reports: { code: string; context: BackgroundErrorContext }[] = [];
    const prefix = prefixOf('deaf');
    const a = new RedisStreamStore({
      client: await storeClient(),
      prefix,
      onError: (e, context) => reports.push({ code: e.code, context }),
    });
    const b = new RedisStreamStore({ client: await storeClient(), prefix });
    const { info } = await a.create('s', { contentType: 'text/plain' });
    // Far longer than the test: only a wake-up ends these waits with 'data'.
    const first = a.wait('s', info.nextOffset, 60_000);
    await until(async () => (await subscribers(admin, prefix)) === 1);
    // Room for the clients there are, less the subscriber: it cannot come back until raised.
    await admin.config('SET', 'maxclients', String((await connected(admin)) - 1));
    await admin.client('KILL', 'TYPE', 'pubsub');
    await until(() => reports.length >= 1);
    expect(await subscribers(admin, prefix)).toBe(0);
    await a.append('s', [Buffer.from('x')]);
    expect(await first).toBe('data');
    expect(await subscribers(admin, prefix)).toBe(0);
    expect(reports[0]!.context).toEqual({ operation: 'subscribe', store: STORE });
    // The driver resubscribes once it is let back in (ioredis's autoResubscribe; node-redis by itself).
    await admin.config('SET', 'maxclients', '10000');
    await until(async () => (await subscribers(admin, prefix)) === 1);
    const second = a.wait('s', (await a.head('s'))!.nextOffset, 60_000);
    await b.append('s', [Buffer.from('y')]);
    expect(await second).toBe('data');
    await a.close();
    await b.close();
  }, 120_000);

  it('a subscribe that fails is reported, the wait still wakes on this process’s appends, and the next wait subscribes', async () => {
    const admin = connect();
    const reports: { code: string; context: BackgroundErrorContext }[] = [];
    const prefix = prefixOf('deaf2');
    const a = new RedisStreamStore({
      client: await storeClient(),
      prefix,
      // The default limit (2 s): the failed subscribe's wait ends by it, and the calls that must
      // succeed (create, append, head) keep it too on a loaded machine.
      onError: (e, context) => reports.push({ code: e.code, context }),
    });
    const b = new RedisStreamStore({ client: await storeClient(), prefix });
    const { info } = await a.create('s', { contentType: 'text/plain' });
    // No room for the subscriber's connection.
    await admin.config('SET', 'maxclients', String(await connected(admin)));
    const first = a.wait('s', info.nextOffset, 60_000);
    await until(() => reports.some((r) => r.context.operation === 'subscribe'));
    await a.append('s', [Buffer.from('x')]);
    expect(await first).toBe('data');
    await admin.config('SET', 'maxclients', '10000');
    const second = a.wait('s', (await a.head('s'))!.nextOffset, 60_000);
    await until(async () => (await subscribers(admin, prefix)) === 1);
    await b.append('s', [Buffer.from('y')]);
    expect(await second).toBe('data');
    await a.close();
    await b.close();
  }, 120_000);
});
