import type { ErrorLike } from '@stowage/conformance';
import { describeBackends, postgresBackends } from '@stowage/conformance/backends';
import pg from 'pg';
import { afterAll, expect, it } from 'vitest';
import { PostgresSessionStore, PostgresStreamStore } from '../src/index.js';

const backends = await postgresBackends();
afterAll(() => Promise.all(backends.map((b) => b.stop())));

/** What a call on a store over `url` fails with (every call must fail: nothing can log in). */
async function failureOf(url: string): Promise<ErrorLike[]> {
  const pool = new pg.Pool({ connectionString: url, max: 2 });
  pool.on('error', () => {});
  const streams = new PostgresStreamStore({ pool, statementTimeoutMs: 5000 });
  const sessions = new PostgresSessionStore({ pool, statementTimeoutMs: 5000 });
  try {
    const outcomes = await Promise.allSettled([streams.head('s'), streams.append('s', [Buffer.from('x')]), sessions.get('k')]);
    return outcomes.map((o) => {
      expect(o.status).toBe('rejected');
      return (o as PromiseRejectedResult).reason as ErrorLike;
    });
  } finally {
    await streams.close();
    await sessions.close();
    await pool.end();
  }
}

// A server the store reaches but cannot log into is a backend it cannot use (503 through the
// streams server), not an internal error. Nothing is created on the server: the role and the
// database below do not exist.
describeBackends(backends.slice(0, 1), (backend) => {
  it('a role that does not exist (SQLSTATE class 28): UNAVAILABLE, saying the login was refused', async () => {
    const url = new URL(backend.url);
    url.username = 'nouser';
    url.password = 'pw';
    const errors = await failureOf(url.toString());
    expect(errors).toHaveLength(3);
    for (const e of errors) {
      expect(e.code).toBe('UNAVAILABLE');
      expect(e.message).toContain('PostgreSQL refused the login: check the role and password');
      expect(e.message).toContain('nouser');
    }
  }, 30_000);

  it('a database that does not exist (3D000): UNAVAILABLE, saying there is no such database', async () => {
    const url = new URL(backend.url);
    url.pathname = `/nodb_${Math.random().toString(36).slice(2, 10)}`;
    const errors = await failureOf(url.toString());
    expect(errors).toHaveLength(3);
    for (const e of errors) {
      expect(e.code).toBe('UNAVAILABLE');
      expect(e.message).toContain('PostgreSQL has no such database: check the database name');
      expect(e.message).toContain(url.pathname.slice(1));
    }
  }, 30_000);
});
