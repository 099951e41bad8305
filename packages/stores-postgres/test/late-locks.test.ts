import { newNamespace, type ErrorLike } from '@stowage/conformance';
import { describeBackends, postgresBackends } from '@stowage/conformance/backends';
import { hashToken } from '@stowage/core/adapter-kit';
import pg from 'pg';
import { afterAll, expect, it } from 'vitest';
import {
  migrate,
  PostgresCsrfTokenStore,
  PostgresIdempotencyStore,
  PostgresLockStore,
  PostgresRateLimitStore,
  PostgresSessionStore,
  PostgresStreamStore,
} from '../src/index.js';

const backends = await postgresBackends();
// Only the first backend runs these tests; stop every container started for the file.
afterAll(() => Promise.all(backends.map((b) => b.stop())));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Statements that wait on a row lock past their caller's deadline: the caller gets TIMEOUT at
 * the deadline, and when the lock is released and the statement goes on to write, PostgreSQL
 * refuses it (the check runs after the row is locked and written), so nothing takes effect.
 */
describeBackends(backends.slice(0, 1), (backend) => {
  const admin = new pg.Pool({ connectionString: backend.url, max: 2 });
  admin.on('error', () => {});
  afterAll(() => admin.end());

  /** Waits until no connection of `app` runs a statement (the late ones have finished on the server). */
  async function serverIdle(app: string): Promise<void> {
    for (let i = 0; i < 200; i++) {
      const { rows } = await admin.query(
        `SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1 AND state = 'active'`,
        [app],
      );
      if (rows[0].n === 0) return;
      await sleep(50);
    }
    throw new Error(`statements of ${app} still running after 10 s`);
  }

  it('calls waiting on a row lock held 1.5 s give TIMEOUT at their 500 ms deadline; once the lock goes nothing took effect', async () => {
    const app = `stowage-lock-${Math.random().toString(36).slice(2)}`;
    const pool = new pg.Pool({ connectionString: backend.url, max: 10, application_name: app });
    pool.on('error', () => {});
    const schema = newNamespace().slice(0, -1);
    await migrate(pool, { schema });
    // The stores' own limit stays at its default, 5 s: only the caller's deadline can end the calls early.
    const opts = { pool, schema };
    const csrf = new PostgresCsrfTokenStore(opts);
    const limits = new PostgresRateLimitStore(opts);
    const sessions = new PostgresSessionStore(opts);
    const keys = new PostgresIdempotencyStore(opts);
    const locks = new PostgresLockStore(opts);
    const streams = new PostgresStreamStore(opts);
    const policy = { algorithm: 'fixed-window', limit: 5, windowMs: 3_600_000 } as const;

    const token = await csrf.issue('sid', { ttlMs: 600_000 });
    const [t1, t2] = [await csrf.issue('other', { ttlMs: 600_000 }), await csrf.issue('other', { ttlMs: 600_000 })];
    await limits.consume('k', policy);
    await sessions.set('sid', Buffer.from('before'), { ttlMs: 600_000 });
    await keys.reserve('scope', 'key', 'fp', { leaseMs: 1 }); // expired at once: a reserve would take it over
    const first = (await locks.acquire('job', { ttlMs: 1 }))!; // likewise for acquire
    await streams.create('s', { contentType: 'text/plain' });
    await sleep(5);

    // Another transaction holds the rows each call needs (for revoke, only the second token's).
    const holder = await admin.connect();
    await holder.query('BEGIN');
    const t = (name: string) => `"${schema}"."stowage_${name}"`;
    await holder.query(`SELECT 1 FROM ${t('csrf_tokens')} WHERE hash = $1 OR hash = $2 FOR UPDATE`, [hashToken(token), hashToken(t2)]);
    await holder.query(`SELECT 1 FROM ${t('rate_limits')} FOR UPDATE`);
    await holder.query(`SELECT 1 FROM ${t('sessions')} FOR UPDATE`);
    await holder.query(`SELECT 1 FROM ${t('idempotency')} FOR UPDATE`);
    await holder.query(`SELECT 1 FROM ${t('locks')} FOR UPDATE`);
    await holder.query(`SELECT 1 FROM ${t('streams')} FOR UPDATE`);

    const started = Date.now();
    const deadline = started + 500;
    const calls: [string, Promise<unknown>][] = [
      ['csrf validate (consume)', csrf.validate('sid', token, { consume: true, deadline })],
      ['csrf revoke (two rows, the second locked)', csrf.revoke('other', { deadline })],
      ['rate-limit consume', limits.consume('k', policy, { deadline })],
      ['session set', sessions.set('sid', Buffer.from('after'), { ttlMs: 600_000, deadline })],
      ['idempotency reserve', keys.reserve('scope', 'key', 'fp2', { leaseMs: 600_000, deadline })],
      ['lock acquire', locks.acquire('job', { ttlMs: 600_000, deadline })],
      ['stream append', streams.append('s', [Buffer.from('x')], { deadline })],
    ];
    const outcomes = await Promise.allSettled(calls.map(([, p]) => p));
    const elapsed = Date.now() - started;
    outcomes.forEach((o, i) => {
      const err = (o as PromiseRejectedResult).reason as ErrorLike | undefined;
      expect(err?.code, `${calls[i]![0]}: ${err?.message ?? 'it succeeded'}`).toBe('TIMEOUT');
    });
    // Answered by the deadline, not after the store's own 5 s limit (generous for a loaded machine).
    expect(elapsed).toBeLessThan(4000);

    // The lock goes after 1.5 s; each waiting statement then locks its row, writes, and is refused.
    await sleep(Math.max(0, started + 1500 - Date.now()));
    await holder.query('COMMIT');
    holder.release();
    await serverIdle(app);

    expect(await csrf.validate('sid', token), 'the token is still there').toBe(true);
    expect([await csrf.validate('other', t1), await csrf.validate('other', t2)], 'revoke rolled back as a whole').toEqual([true, true]);
    expect((await limits.peek('k', policy)).remaining, 'the consume was not counted').toBe(4);
    const record = await sessions.get('sid');
    expect([Buffer.from(record!.data).toString(), record!.version]).toEqual(['before', 1]);
    expect((await keys.reserve('scope', 'key', 'fp', { leaseMs: 60_000 })).state, 'the key is free').toBe('reserved');
    expect((await locks.acquire('job', { ttlMs: 60_000 }))?.fence, 'the late acquire took no fence').toBe(first.fence + 1);
    expect((await streams.read('s', '-1')).messages).toEqual([]);

    for (const s of [csrf, limits, sessions, keys, locks, streams]) await s.close();
    await admin.query(`DROP SCHEMA "${schema}" CASCADE`);
    await pool.end();
  }, 30_000);
});
