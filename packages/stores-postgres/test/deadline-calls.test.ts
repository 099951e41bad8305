import { newNamespace, type ErrorLike } from '@stowage/conformance';
import { describeBackends, postgresBackends } from '@stowage/conformance/backends';
import { ErrorSource } from '@stowage/core/adapter-kit';
import pg from 'pg';
import { afterAll, expect, it } from 'vitest';
import { mapError } from '../src/base.js';
import { serverClockOf } from '../src/server-clock.js';
import {
  migrate,
  PostgresCsrfTokenStore,
  PostgresIdempotencyStore,
  PostgresJwksCacheStore,
  PostgresLockStore,
  PostgresRateLimitStore,
  PostgresSessionStore,
  PostgresStreamStore,
  schema as ddl,
} from '../src/index.js';
import { shiftOurClock } from './our-clock.js';

const backends = await postgresBackends();
// Only the first backend runs these tests; stop every container started for the file.
afterAll(() => Promise.all(backends.map((b) => b.stop())));

const outcome = (p: Promise<unknown>) =>
  p.then(
    () => 'resolved',
    (e: ErrorLike) => e.code,
  );

describeBackends(backends.slice(0, 1), (backend) => {
  const admin = new pg.Pool({ connectionString: backend.url, max: 2 });
  admin.on('error', () => {});
  const schemas: string[] = [];
  const pools: pg.Pool[] = [];
  afterAll(async () => {
    for (const p of pools) await p.end();
    for (const s of schemas) await admin.query(`DROP SCHEMA IF EXISTS "${s}" CASCADE`);
    await admin.end();
  });

  /** A pool that counts what the stores ask of it: statements (`query`) and connections (`connect`). */
  function countingPool() {
    const pool = new pg.Pool({ connectionString: backend.url, max: 4 });
    pool.on('error', () => {});
    pools.push(pool);
    const counts = { query: 0, connect: 0 };
    const query = pool.query.bind(pool);
    const connect = pool.connect.bind(pool);
    pool.query = ((...args: Parameters<typeof query>) => (counts.query++, query(...args))) as typeof pool.query;
    pool.connect = ((...args: Parameters<typeof connect>) => (counts.connect++, connect(...args))) as typeof pool.connect;
    const schema = newNamespace().slice(0, -1);
    schemas.push(schema);
    return { pool, counts, schema };
  }

  it('a passed deadline is TIMEOUT on every method of the seven stores, with no connection asked for or statement sent', async () => {
    const { pool, counts, schema } = countingPool();
    const o = { pool, schema };
    const [sessions, limits, keys, csrf, locks, jwks, streams] = [
      new PostgresSessionStore(o),
      new PostgresRateLimitStore(o),
      new PostgresIdempotencyStore(o),
      new PostgresCsrfTokenStore(o),
      new PostgresLockStore(o),
      new PostgresJwksCacheStore(o),
      new PostgresStreamStore(o),
    ];
    const deadline = Date.now() - 1;
    const d = { deadline };
    const token = 'a'.repeat(43);
    const policy = { algorithm: 'gcra', limit: 1, windowMs: 1000 } as const;
    const response = { status: 200, headers: [] as [string, string][], body: new Uint8Array(0) };
    const calls: Record<string, () => Promise<unknown>> = {
      'sessions.get': () => sessions.get('s', d),
      'sessions.set': () => sessions.set('s', Buffer.from('x'), { ttlMs: 1000, deadline }),
      'sessions.touch': () => sessions.touch('s', 1000, d),
      'sessions.destroy': () => sessions.destroy('s', d),
      'sessions.rotate': () => sessions.rotate('s', 't', d),
      'sessions.destroyByOwner': () => sessions.destroyByOwner('u', d),
      'rateLimits.consume': () => limits.consume('k', policy, d),
      'rateLimits.consume (two policies)': () => limits.consume('k', [policy, { ...policy, limit: 2 }], d),
      'rateLimits.peek': () => limits.peek('k', policy, d),
      'rateLimits.reset': () => limits.reset('k', d),
      'idempotency.reserve': () => keys.reserve('s', 'k', 'f', { leaseMs: 1000, deadline }),
      'idempotency.complete': () => keys.complete('s', 'k', token, response, { retentionMs: 1000, deadline }),
      'idempotency.release': () => keys.release('s', 'k', token, d),
      'idempotency.extend': () => keys.extend('s', 'k', token, 1000, d),
      'csrf.issue': () => csrf.issue('s', { ttlMs: 1000, deadline }),
      'csrf.validate': () => csrf.validate('s', token, d),
      'csrf.validate (consume)': () => csrf.validate('s', token, { consume: true, deadline }),
      'csrf.revoke': () => csrf.revoke('s', d),
      'locks.acquire': () => locks.acquire('n', { ttlMs: 1000, deadline }),
      'locks.extend': () => locks.extend('n', token, 1000, d),
      'locks.release': () => locks.release('n', token, d),
      'jwks.get': () => jwks.get('https://a.example/jwks', d),
      'jwks.put': () => jwks.put('https://a.example/jwks', '{"keys":[]}', { fetchedAt: 1, ttlMs: 1000, deadline }),
      'streams.create': () => streams.create('s', { contentType: 'text/plain' }, d),
      'streams.append': () => streams.append('s', [Buffer.from('x')], d),
      'streams.read': () => streams.read('s', '-1', d),
      'streams.head': () => streams.head('s', d),
      'streams.closeStream': () => streams.closeStream('s', d),
      'streams.delete': () => streams.delete('s', d),
    };
    const got: Record<string, string> = {};
    for (const [name, call] of Object.entries(calls)) got[name] = await outcome(call());
    expect(got).toEqual(Object.fromEntries(Object.keys(calls).map((k) => [k, 'TIMEOUT'])));
    // Validation comes first: a malformed argument with a passed deadline is INVALID_ARGUMENT.
    expect(await outcome(sessions.set('', Buffer.from('x'), { ttlMs: 1000, deadline }))).toBe('INVALID_ARGUMENT');
    expect(await outcome(streams.append('', [], d))).toBe('INVALID_ARGUMENT');
    // Not even the first-use migration ran.
    expect(counts).toEqual({ query: 0, connect: 0 });
    const { rows } = await admin.query(`SELECT 1 FROM pg_namespace WHERE nspname = $1`, [schema]);
    expect(rows).toEqual([]);
    for (const s of [sessions, limits, keys, csrf, locks, jwks, streams]) await s.close();
  });

  it('learns a PostgreSQL clock that runs ahead of ours from the first refusal, and the call succeeds once', async () => {
    const { pool, counts, schema } = countingPool();
    await migrate(pool, { schema });
    const limits = new PostgresRateLimitStore({ pool, schema });
    const policy = { algorithm: 'fixed-window', limit: 10, windowMs: 3_600_000 } as const;
    await limits.consume('warm', policy); // samples PostgreSQL's clock first (about our own)
    // Then our clock steps back 5 s: PostgreSQL's runs 5 s ahead of it, a deadline 3 s away has passed there.
    let ours = shiftOurClock(() => -5000);
    try {
      counts.query = 0;
      expect((await limits.consume('k', policy, { deadline: Date.now() + 3000 })).remaining).toBe(9);
      expect(counts.query, 'refused once, then sent again').toBe(2);
      expect(serverClockOf(pool).offsetMs, 'learnt from the refusal').toBeGreaterThan(4000);
      expect((await limits.consume('k', policy, { deadline: Date.now() + 3000 })).remaining).toBe(8);
      expect(counts.query, 'the next call is sent once').toBe(3);
    } finally {
      ours.mockRestore();
    }

    // The same in a stream transaction (a producer's append; a plain one is one statement): the COMMIT's check
    // refuses, the transaction runs again.
    const streams = new PostgresStreamStore({ pool, schema });
    await streams.create('s', { contentType: 'text/plain' });
    ours = shiftOurClock(() => -10_000); // 5 s further back than the offset learnt
    try {
      counts.connect = 0;
      counts.query = 0;
      const producer = { id: 'p', epoch: 0, seq: 0 };
      await streams.append('s', [Buffer.from('once')], { deadline: Date.now() + 3000, producer });
      // Each transaction takes a connection; so does pool.query (the NOTIFY after the append).
      expect(counts.connect - counts.query, 'two transactions').toBe(2);
    } finally {
      ours.mockRestore();
    }
    // And a plain append, one statement: refused once, then sent again.
    ours = shiftOurClock(() => -15_000);
    try {
      counts.connect = 0;
      counts.query = 0;
      await streams.append('s', [Buffer.from('twice')], { deadline: Date.now() + 3000 });
      expect(counts.query, 'one statement, refused once, then sent again').toBe(2);
    } finally {
      ours.mockRestore();
    }
    expect((await streams.read('s', '-1')).messages.map((m) => Buffer.from(m.data).toString())).toEqual(['once', 'twice']);
    await limits.close();
    await streams.close();
  });

  it('the check is a schema function in the exported DDL; its refusal, STOWAGE_LATE with its own SQLSTATE, maps to TIMEOUT', async () => {
    const exported = ddl({ schema: 'app', tablePrefix: 'x_' });
    for (const steps of Object.values(exported)) expect(steps.join('\n')).toContain('FUNCTION "app"."x_check_deadline"(deadline bigint)');
    const { schema } = countingPool();
    await migrate(admin, { schema, components: ['csrf'] });
    const check = `"${schema}"."stowage_check_deadline"`;
    expect((await admin.query(`SELECT ${check}($1) AS ok`, [Date.now() + 60_000])).rows).toEqual([{ ok: true }]);
    const err = await admin.query(`SELECT ${check}($1)`, [Date.now() - 1000]).catch((e: pg.DatabaseError) => e);
    expect((err as pg.DatabaseError).code).toBe('SLATE');
    expect((err as Error).message).toMatch(/^STOWAGE_LATE \d+: the caller's deadline passed \d+ ms ago/);
    const mapped = mapError(new ErrorSource('@stowage/stores-postgres', 'test'), err);
    expect([mapped.code, mapped.message]).toEqual(['TIMEOUT', expect.stringContaining('PostgreSQL refused the call')]);
  });
});
