import { randomBytes } from 'node:crypto';
import { describeBackends, postgresBackends } from '@stowage/conformance/backends';
import { StowageError } from '@stowage/core';
import pg from 'pg';
import { afterAll, expect, it } from 'vitest';
import { PostgresStreamStore } from '../src/index.js';

const backends = await postgresBackends();
afterAll(() => Promise.all(backends.map((b) => b.stop())));

const text = new TextEncoder();
const bodyOf = (run: { messages: { data: Uint8Array }[] }) => run.messages.map((m) => Buffer.from(m.data).toString()).join('');

/**
 * A fork's read holds the fork and reads its source; a read of a deleted source kept for its
 * forks holds the source and looks at its forks. When both locked what they looked at, the
 * two directions deadlocked: PostgreSQL broke each cycle after `deadlock_timeout` (1 s) and
 * the store retried, so concurrent reads took seconds or ran out of time (`TIMEOUT`).
 * Counted in a database of the file's own, where nothing else runs.
 */
describeBackends(backends.slice(0, 1), (backend) => {
  const admin = new pg.Pool({ connectionString: backend.url, max: 1 });
  admin.on('error', () => {});
  const database = `stowage_locks_${randomBytes(6).toString('hex')}`;
  afterAll(async () => {
    await admin.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
    await admin.end();
  });

  it('reads of forks, of their deleted source and appends to the forks never deadlock', async () => {
    await admin.query(`CREATE DATABASE ${database}`);
    const url = new URL(backend.url);
    url.pathname = `/${database}`;
    const pool = new pg.Pool({ connectionString: url.href, max: 8 });
    pool.on('error', () => {});
    const streams = new PostgresStreamStore({ pool, timeoutMs: 2_000 });
    const rounds = 20;
    // What went otherwise than expected, by kind; asserted with the deadlock count at the end.
    const failures: string[] = [];
    const failure = (what: string, err: unknown) => failures.push(`${what}: ${err instanceof StowageError ? err.code : String(err)}`);
    try {
      await streams.create('src', { contentType: 'text/plain' }, { messages: ['a', 'b', 'c'].map((m) => text.encode(m)) });
      for (const f of ['f1', 'f2']) await streams.create(f, { contentType: 'text/plain' }, { fork: { from: 'src' } });
      await streams.delete('src');
      const forkLoop = async (f: string) => {
        let own = '';
        for (let i = 0; i < rounds; i++) {
          try {
            await streams.append(f, [text.encode(`${i % 10}`)]);
            own += `${i % 10}`;
            // Each fork is appended to by its own loop only: it reads what it wrote.
            const body = bodyOf(await streams.read(f, '-1'));
            if (body !== `abc${own}`) failures.push(`${f} read ${body}`);
          } catch (err) {
            failure(`${f}`, err);
          }
        }
      };
      const goneLoop = async () => {
        for (let i = 0; i < rounds; i++) {
          const err = await streams.read('src', '-1').then(
            () => 'read',
            (e: unknown) => e,
          );
          if (!(err instanceof StowageError && err.code === 'GONE')) failure('src', err);
        }
      };
      await Promise.all([forkLoop('f1'), forkLoop('f2'), goneLoop(), goneLoop(), goneLoop()]);
    } finally {
      await streams.close();
      await pool.end();
    }
    // A session reports its counts when it ends; wait until all have ended.
    let deadlocks = -1;
    for (let tries = 0; tries < 50; tries++) {
      const { rows } = await admin.query<{ deadlocks: string; n: string }>(
        `SELECT deadlocks, (SELECT count(*) FROM pg_stat_activity WHERE datname = $1) AS n FROM pg_stat_database WHERE datname = $1`,
        [database],
      );
      deadlocks = Number(rows[0]!.deadlocks);
      if (rows[0]!.n === '0') break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect({ deadlocks, failures }).toEqual({ deadlocks: 0, failures: [] });
  }, 120_000); // the limit is for the broken variant, whose calls each wait up to 2 s
});
