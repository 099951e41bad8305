import { newNamespace, type ErrorLike } from '@stowage/conformance';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisRateLimitStore, RedisSessionStore } from '../src/index.js';
import { connect, DRIVERS } from './clients.js';
import { type LocalCluster, startServer } from './helpers.js';

let server: LocalCluster;
beforeAll(async () => {
  server = await startServer();
});
afterAll(() => server?.stop());

// A record under the store's prefix that it did not write (another program, a bad migration):
// reads reject with CORRUPT, a StowageError, never a TypeError or a record of NaNs.
describe.each(DRIVERS)('records the store did not write (%s)', (driver) => {
  /** An admin connection (ioredis), the stores' client on this block's driver, and a fresh prefix. */
  async function open() {
    const admin = new Redis({ host: '127.0.0.1', port: server.ports[0]! });
    const client = connect(driver, server.ports[0]!);
    await client.connected;
    return { admin, client, prefix: newNamespace() };
  }

  it('a session hash without data, or with a version or expiry that is not an integer, is CORRUPT', async () => {
    const { admin, client, prefix } = await open();
    const sessions = new RedisSessionStore({ client: client.client, prefix });
    try {
      const far = String(Date.now() + 60_000);
      await admin.hset(`${prefix}s:{only-version}`, 'version', '1');
      await admin.hset(`${prefix}s:{bad-version}`, 'data', 'x', 'version', 'one', 'exp', far);
      await admin.hset(`${prefix}s:{bad-exp}`, 'data', 'x', 'version', '1', 'exp', 'soon');
      await admin.hset(`${prefix}s:{bad-abs}`, 'data', 'x', 'version', '1', 'exp', far, 'abs', '1e3');
      for (const id of ['only-version', 'bad-version', 'bad-exp', 'bad-abs']) {
        const got = await sessions.get(id).then(
          (r) => r,
          (err: ErrorLike) => `${err.name} ${err.code}`,
        );
        expect(got, id).toBe('StowageError CORRUPT');
      }
      await admin.hset(`${prefix}s:{good}`, 'data', 'x', 'version', '3', 'exp', far, 'abs', far, 'owner', 'ann');
      expect(await sessions.get('good')).toMatchObject({
        version: 3,
        expiresAt: Number(far),
        absoluteExpiresAt: Number(far),
        owner: 'ann',
      });
    } finally {
      admin.disconnect();
      client.close();
    }
  });

  it('a rate-limit key holding what this store did not write (a counter, text, a hash) is CORRUPT and left as it is', async () => {
    const { admin, client, prefix } = await open();
    const limits = new RedisRateLimitStore({ client: client.client, prefix });
    const sessions = new RedisSessionStore({ client: client.client, prefix });
    const policy = { algorithm: 'gcra', limit: 10, windowMs: 60_000 } as const;
    const outcome = (call: Promise<unknown>) =>
      call.then(
        () => 'ok',
        (err: ErrorLike) => `${err.name} ${err.code}`,
      );
    try {
      // Another limiter's counter, text, eight bytes with a state cut short, and a hash.
      const values: Record<string, string | Buffer> = {
        counter: '5',
        eight: '12345678',
        text: 'not a rate-limit state',
        cut: Buffer.concat([Buffer.alloc(8), Buffer.from('id\0'), Buffer.alloc(8)]),
      };
      for (const [key, value] of Object.entries(values)) await admin.set(`${prefix}r:{${key}}`, value);
      await admin.hset(`${prefix}r:{hash}`, 'a', '1');
      for (const key of [...Object.keys(values), 'hash']) {
        expect(await outcome(limits.consume(key, policy)), key).toBe('StowageError CORRUPT');
        expect(await outcome(limits.peek(key, policy)), key).toBe('StowageError CORRUPT');
      }
      for (const [key, value] of Object.entries(values)) expect(await admin.getBuffer(`${prefix}r:{${key}}`)).toEqual(Buffer.from(value));
      // A session id whose key holds a string: CORRUPT as well.
      await admin.set(`${prefix}s:{text}`, 'x');
      expect(await outcome(sessions.get('text'))).toBe('StowageError CORRUPT');
      // Keys it wrote itself still work.
      expect((await limits.consume('mine', policy)).remaining).toBe(9);
    } finally {
      admin.disconnect();
      client.close();
    }
  });
});
