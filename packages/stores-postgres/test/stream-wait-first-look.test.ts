import { newNamespace } from '@stowage/conformance';
import { describeBackends, postgresBackends } from '@stowage/conformance/backends';
import pg from 'pg';
import { afterAll, expect, it } from 'vitest';
import { PostgresStreamStore } from '../src/index.js';

// A wait's first look fixes the stream (its id) it waits on: it must not wait for the store's
// LISTEN to be set up, which takes a connection of its own and may be slow (a busy pool).
// Else a name re-created meanwhile is taken for the stream waited on, and the wait answers
// `data` of another stream.

const backends = await postgresBackends();
afterAll(() => Promise.all(backends.map((b) => b.stop())));

const TEXT = 'text/plain';
const msgs = (...parts: string[]) => parts.map((p) => Buffer.from(p));

describeBackends(backends.slice(0, 1), (backend) => {
  it('a name re-created before LISTEN is up: the pending wait answers missing, never the new stream data', async () => {
    // The store's statements share one connection, in order; its LISTEN connection, the only
    // one it takes with `connect()` here, comes from a pool of its own once the test lets it.
    const listenPool = new pg.Pool({ connectionString: backend.url, max: 1 });
    let letListen = (): void => {};
    const listenHeld = new Promise<void>((resolve) => (letListen = resolve));
    let held = false;
    class HeldListenPool extends pg.Pool {
      override connect(...args: unknown[]): never {
        if (held && args.length === 0) return listenHeld.then(() => listenPool.connect()) as never;
        return (super.connect as (...a: unknown[]) => never)(...args);
      }
    }
    const pool = new HeldListenPool({ connectionString: backend.url, max: 1 });
    const other = new pg.Pool({ connectionString: backend.url, max: 2 });
    for (const p of [listenPool, pool, other]) p.on('error', () => {});
    const schema = newNamespace().slice(0, -1);
    const a = new PostgresStreamStore({ pool, schema });
    const b = new PostgresStreamStore({ pool: other, schema });
    try {
      const { info } = await a.create('s', { contentType: TEXT }, { messages: msgs('a') });
      held = true;
      // Far longer than the test: it ends by a look, never by its timeout.
      const waiting = a.wait('s', info.nextOffset, 60_000);
      // Queued behind the first look on the store's one connection: that look has been answered.
      await pool.query('SELECT 1');
      // Another replica deletes and re-creates the name, with data past the offset waited at.
      expect(await b.delete('s')).toBe(true);
      const again = await b.create('s', { contentType: TEXT }, { messages: msgs('x', 'y', 'z') });
      expect(again.info.id).not.toBe(info.id);
      letListen();
      expect(await waiting).toBe('missing');
    } finally {
      letListen();
      await a.close();
      await b.close();
      await other.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await Promise.all([pool.end(), other.end(), listenPool.end()]);
    }
  }, 30_000);
});
