import { newNamespace, type ErrorLike } from '@stowage/conformance';
import { describeBackends, postgresBackends } from '@stowage/conformance/backends';
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import {
  migrate,
  PostgresCsrfTokenStore,
  PostgresIdempotencyStore,
  PostgresRateLimitStore,
  PostgresSessionStore,
  PostgresStreamStore,
  type PostgresStoreOptions,
} from '../src/index.js';
import { HoldingProxy } from '@stowage/conformance/faults';

const backends = await postgresBackends();
// Only the first backend runs these tests; stop every container started for the file.
afterAll(() => Promise.all(backends.map((b) => b.stop())));

/**
 * The network delays a call's bytes past its time limit: the caller is told TIMEOUT, then the
 * bytes reach PostgreSQL. The statement must be refused there (the caller was told it failed).
 */
describeBackends(backends.slice(0, 1), (backend) => {
  const direct = new pg.Pool({ connectionString: backend.url, max: 4 });
  direct.on('error', () => {});
  let proxy: HoldingProxy;
  const schemas: string[] = [];
  const pools: pg.Pool[] = [];
  beforeAll(async () => {
    proxy = await HoldingProxy.start(Number(new URL(backend.url).port || 5432));
  });
  afterAll(async () => {
    await proxy.close();
    for (const p of pools) await p.end();
    for (const s of schemas) await direct.query(`DROP SCHEMA IF EXISTS "${s}" CASCADE`);
    await direct.end();
  });

  /**
   * Options for a store through the proxy (one connection, so the warmed one is used) and for one without it.
   * Both keep the default 5 s limit: only the calls under test get a short deadline (`soon()`), so a
   * slow moment of a loaded machine cannot fail a call that must succeed.
   */
  async function setup(): Promise<{ late: PostgresStoreOptions; plain: PostgresStoreOptions }> {
    const schema = newNamespace().slice(0, -1);
    schemas.push(schema);
    await migrate(direct, { schema });
    const pool = new pg.Pool({ connectionString: proxy.url(backend.url), max: 1 });
    pool.on('error', () => {});
    pools.push(pool);
    return { late: { pool, schema }, plain: { pool: direct, schema } };
  }

  /** The deadline of a call under test: the proxy holds its bytes past it. */
  const soon = () => ({ deadline: Date.now() + 500 });

  /** Runs `call` with the proxy holding its bytes: TIMEOUT; then the bytes reach the server. */
  async function timesOutThenArrives(call: () => Promise<unknown>): Promise<void> {
    proxy.hold();
    const err = (await call().then(
      () => undefined,
      (e: unknown) => e,
    )) as ErrorLike | undefined;
    expect(err?.code, err?.message).toBe('TIMEOUT');
    expect(proxy.heldBytes(), 'the statement was sent and held').toBeGreaterThan(0);
    await proxy.deliver();
  }

  it('a consuming CSRF validate told TIMEOUT, delivered afterwards, does not spend the token: it validates exactly once', async () => {
    const { late, plain } = await setup();
    const csrf = new PostgresCsrfTokenStore(late);
    const check = new PostgresCsrfTokenStore(plain);
    const token = await csrf.issue('sid', { ttlMs: 600_000 }); // also opens the proxied connection
    await timesOutThenArrives(() => csrf.validate('sid', token, { consume: true, ...soon() }));
    expect(await check.validate('sid', token, { consume: true })).toBe(true);
    expect(await check.validate('sid', token, { consume: true })).toBe(false);
    await csrf.close();
    await check.close();
  });

  it('a rate-limit consume told TIMEOUT, delivered afterwards, is not counted', async () => {
    const { late, plain } = await setup();
    const limits = new PostgresRateLimitStore(late);
    const check = new PostgresRateLimitStore(plain);
    const policy = { algorithm: 'fixed-window', limit: 5, windowMs: 3_600_000 } as const;
    expect((await limits.consume('k', policy)).remaining).toBe(4);
    await timesOutThenArrives(() => limits.consume('k', policy, soon()));
    expect((await check.peek('k', policy)).remaining).toBe(4);
    // Two policies go through the function: refused the same way.
    const both = [policy, { algorithm: 'gcra', limit: 10, windowMs: 3_600_000 } as const];
    await timesOutThenArrives(() => limits.consume('k', both, soon()));
    expect((await check.peek('k', both)).remaining).toBe(4);
    expect((await check.consume('k', both)).remaining).toBe(3);
    await limits.close();
    await check.close();
  });

  it('a session set told TIMEOUT, delivered afterwards, is not applied', async () => {
    const { late, plain } = await setup();
    const sessions = new PostgresSessionStore(late);
    const check = new PostgresSessionStore(plain);
    expect(await sessions.set('sid', Buffer.from('before'), { ttlMs: 600_000 })).toEqual({ version: 1 });
    await timesOutThenArrives(() => sessions.set('sid', Buffer.from('after'), { ttlMs: 600_000, ...soon() }));
    const record = await check.get('sid');
    expect(Buffer.from(record!.data).toString()).toBe('before');
    expect(record!.version).toBe(1);
    await sessions.close();
    await check.close();
  });

  it('an idempotency reserve told TIMEOUT, delivered afterwards, leaves the key free', async () => {
    const { late, plain } = await setup();
    const keys = new PostgresIdempotencyStore(late);
    const check = new PostgresIdempotencyStore(plain);
    expect((await keys.reserve('scope', 'warm', 'fp', { leaseMs: 60_000 })).state).toBe('reserved');
    await timesOutThenArrives(() => keys.reserve('scope', 'key', 'fp', { leaseMs: 60_000, ...soon() }));
    expect((await check.reserve('scope', 'key', 'fp', { leaseMs: 60_000 })).state).toBe('reserved');
    await keys.close();
    await check.close();
  });

  it('a stream append in one statement told TIMEOUT, delivered afterwards, is not appended', async () => {
    const { late, plain } = await setup();
    const streams = new PostgresStreamStore(late);
    const check = new PostgresStreamStore(plain);
    await streams.create('s', { contentType: 'text/plain' });
    await timesOutThenArrives(() => streams.append('s', [Buffer.from('x')], soon()));
    expect((await check.read('s', '-1')).messages).toEqual([]);
    await check.append('s', [Buffer.from('y')]);
    expect((await check.read('s', '-1')).messages.map((m) => Buffer.from(m.data).toString())).toEqual(['y']);
    await streams.close();
    await check.close();
  });

  it('a stream append whose COMMIT is held past its deadline rolls back when the COMMIT arrives', async () => {
    const { late, plain } = await setup();
    const streams = new PostgresStreamStore(late);
    const check = new PostgresStreamStore(plain);
    await streams.create('s', { contentType: 'text/plain' });
    // Everything before the COMMIT goes through: the transaction has written, and waits. (A
    // producer's append is a transaction; a plain one is one statement, tested above.)
    proxy.hold((chunk) => chunk.includes('COMMIT'));
    const producer = { id: 'p', epoch: 0, seq: 0 };
    const err = (await streams.append('s', [Buffer.from('x')], { ...soon(), producer }).catch((e: unknown) => e)) as ErrorLike;
    expect(err?.code, err?.message).toBe('TIMEOUT');
    expect(proxy.heldBytes()).toBeGreaterThan(0);
    await proxy.deliver();
    const read = await check.read('s', '-1');
    expect(read.messages).toEqual([]);
    await check.append('s', [Buffer.from('y')]);
    expect((await check.read('s', '-1')).messages.map((m) => Buffer.from(m.data).toString())).toEqual(['y']);
    await streams.close();
    await check.close();
  });
});
