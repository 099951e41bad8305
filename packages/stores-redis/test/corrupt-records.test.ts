import { newNamespace, type ErrorLike } from '@stowage/conformance';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisSessionStore } from '../src/index.js';
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
  it('a session hash without data, or with a version or expiry that is not an integer, is CORRUPT', async () => {
    const admin = new Redis({ host: '127.0.0.1', port: server.ports[0]! });
    const client = connect(driver, server.ports[0]!);
    await client.connected;
    const prefix = newNamespace();
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
});
