import { StowageError } from '@stowage/core';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { didNotRun } from '../src/base.js';
import { RedisRateLimitStore, RedisStreamStore } from '../src/index.js';
import { connect as connectWith, DRIVERS, type TestClient } from './clients.js';
import { startServer, type LocalCluster } from './helpers.js';

const PASSWORD = 'the-right-password';
// GCRA, not a fixed window: a window aligned to the epoch minute could end mid-test and reset the count.
const policy = { algorithm: 'gcra', limit: 10, windowMs: 3_600_000 } as const;

/** The error a call ends with, and how long it took. */
async function failure(call: () => Promise<unknown>): Promise<{ err: StowageError; ms: number }> {
  const startedAt = Date.now();
  try {
    await call();
  } catch (err) {
    if (!(err instanceof StowageError)) throw err;
    return { err, ms: Date.now() - startedAt };
  }
  throw new Error('the call succeeded');
}

describe.each(DRIVERS)('a Redis that refuses the store (a private redis-server with --requirepass, %s)', (driver) => {
  let server: LocalCluster;
  let admin: Redis;
  const clients: TestClient[] = [];
  // Each refused login is an 'error' of the client too (the test's clients ignore those); the calls report it.
  const connect = (options: { username?: string; password?: string }): TestClient['client'] => {
    const client = connectWith(driver, server.ports[0]!, { ...options, failFast: true });
    clients.push(client);
    return client.client;
  };
  beforeAll(async () => {
    server = await startServer(undefined, PASSWORD);
    admin = new Redis({ host: '127.0.0.1', port: server.ports[0]!, password: PASSWORD });
    // A user that may log in and PING, and nothing else.
    await admin.call('ACL', 'SETUSER', 'pinger', 'on', '>pinger-pass', '~*', '+ping');
  });
  afterAll(() => {
    for (const c of clients) c.close();
    admin?.disconnect();
    server?.stop();
  });

  // The refusal of a wrong password is WRONGPASS (ioredis waits for the login) or NOAUTH (node-redis sends
  // the call behind the refused AUTH on the same connection): both say the login was refused.
  it('a wrong password is UNAVAILABLE (503), saying the login was refused, within the time limit', async () => {
    const client = connect({ password: 'wrong' });
    const streams = new RedisStreamStore({ client, prefix: 'login-refused:', timeoutMs: 2000 });
    const { err, ms } = await failure(() => streams.head('s'));
    expect(err.code).toBe('UNAVAILABLE');
    expect(err.message).toMatch(/Redis refused the login: check the user and password of the connection \((?:WRONGPASS|NOAUTH)/);
    expect(ms).toBeLessThan(2000 + 1000);
    const limits = new RedisRateLimitStore({ client, prefix: 'login-refused:', timeoutMs: 2000 });
    expect((await failure(() => limits.consume('k', policy))).err.code).toBe('UNAVAILABLE');
    // Once a connect attempt failed, a call fails at once, sending nothing, and still says why.
    let reconnects = 0;
    (client as unknown as { on(e: string, f: () => void): void }).on('reconnecting', () => reconnects++);
    for (let i = 0; i < 3000 && reconnects < 2; i++) await new Promise((r) => setTimeout(r, 10));
    const later = await failure(() => limits.consume('k', policy));
    expect(later.err.message).toMatch(/Redis refused the login: check the user and password of the connection \((?:WRONGPASS|NOAUTH)/);
    expect(didNotRun(later.err)).toBe(true);
  });

  it('no password at all (NOAUTH) is UNAVAILABLE, saying the login was refused', async () => {
    const streams = new RedisStreamStore({ client: connect({}), prefix: 'login-refused:', timeoutMs: 2000 });
    const { err } = await failure(() => streams.create('s', { contentType: 'text/plain' }));
    expect(err.code).toBe('UNAVAILABLE');
    expect(err.message).toMatch(/Redis refused the login: .*NOAUTH/);
  });

  it("an ACL user that may not run the store's commands (NOPERM) is UNAVAILABLE, naming the ACL", async () => {
    const streams = new RedisStreamStore({
      client: connect({ username: 'pinger', password: 'pinger-pass' }),
      prefix: 'login-refused:',
      timeoutMs: 2000,
    });
    const { err } = await failure(() => streams.create('s', { contentType: 'text/plain' }));
    expect(err.code).toBe('UNAVAILABLE');
    expect(err.message).toMatch(/the Redis user may not run this store's commands or use its keys: check its ACL \(NOPERM/);
    // Nothing was written.
    expect(await admin.keys('login-refused:*')).toEqual([]);
  });
});
