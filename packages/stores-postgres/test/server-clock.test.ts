import { newNamespace, type ErrorLike } from '@stowage/conformance';
import { describeBackends, postgresBackends } from '@stowage/conformance/backends';
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import {
  migrate,
  PostgresLockStore,
  PostgresRateLimitStore,
  PostgresSessionStore,
  PostgresStreamStore,
  type PostgresStoreOptions,
} from '../src/index.js';
import { CLOCK_SAMPLE_SQL, serverClockOf } from '../src/server-clock.js';
import { HoldingProxy } from '@stowage/conformance/faults';
import { shiftOurClock } from './our-clock.js';

const backends = await postgresBackends();
// Only the first backend runs these tests; stop every container started for the file.
afterAll(() => Promise.all(backends.map((b) => b.stop())));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const outcome = (p: Promise<unknown>) =>
  p.then(
    () => 'OK',
    (e: ErrorLike) => e.code as string,
  );

/** PostgreSQL's clock, sampled before a pool's first writing call (see `server-clock.ts`). */
describeBackends(backends.slice(0, 1), (backend) => {
  const admin = new pg.Pool({ connectionString: backend.url, max: 3 });
  admin.on('error', () => {});
  const schemas: string[] = [];
  const pools: pg.Pool[] = [];
  let proxy: HoldingProxy;
  beforeAll(async () => {
    proxy = await HoldingProxy.start(Number(new URL(backend.url).port || 5432));
  });
  afterAll(async () => {
    await proxy.close();
    for (const p of pools) await p.end();
    for (const s of schemas) await admin.query(`DROP SCHEMA IF EXISTS "${s}" CASCADE`);
    await admin.end();
  });

  /** A migrated schema of the test's own. */
  async function freshSchema(): Promise<string> {
    const schema = newNamespace().slice(0, -1);
    schemas.push(schema);
    await migrate(admin, { schema });
    return schema;
  }

  /** A pool of the test's own (the clock sample is per pool), recording the text of each `pool.query`. */
  function recordingPool(config: pg.PoolConfig = {}) {
    const pool = new pg.Pool({ connectionString: backend.url, max: 10, ...config });
    pool.on('error', () => {});
    pools.push(pool);
    const texts: string[] = [];
    const query = pool.query.bind(pool);
    pool.query = ((arg: string | pg.QueryConfig, ...rest: unknown[]) => {
      texts.push(typeof arg === 'string' ? arg : arg.text);
      return (query as (...a: unknown[]) => unknown)(arg, ...rest);
    }) as typeof pool.query;
    const samples = () => texts.filter((t) => t === CLOCK_SAMPLE_SQL).length;
    return { pool, texts, samples };
  }

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

  it('a PostgreSQL clock 5 s behind ours: first calls waiting on a row lock past the deadline are refused, none takes effect', async () => {
    const schema = await freshSchema();
    const policy = { algorithm: 'fixed-window', limit: 5, windowMs: 3_600_000 } as const;
    // The rows the calls will wait on, written through another pool.
    const setup: PostgresStoreOptions = { pool: admin, schema };
    await new PostgresRateLimitStore(setup).consume('k', policy);
    await new PostgresSessionStore(setup).set('sid', Buffer.from('before'), { ttlMs: 600_000 });
    const first = (await new PostgresLockStore(setup).acquire('job', { ttlMs: 1 }))!; // expired at once: an acquire would take it over
    await sleep(5);
    const holder = await admin.connect();
    await holder.query('BEGIN');
    for (const table of ['rate_limits', 'sessions', 'locks']) await holder.query(`SELECT 1 FROM "${schema}"."stowage_${table}" FOR UPDATE`);

    const app = `stowage-clock-${Math.random().toString(36).slice(2)}`;
    const { pool, samples } = recordingPool({ application_name: app });
    const o: PostgresStoreOptions = { pool, schema }; // their own limit stays at 5 s
    const [limits, sessions, locks] = [new PostgresRateLimitStore(o), new PostgresSessionStore(o), new PostgresLockStore(o)];
    const ours = shiftOurClock(() => 5000); // our clock 5 s ahead: PostgreSQL's runs 5 s behind it
    try {
      const startedAt = Date.now();
      const deadline = startedAt + 150;
      const codes = await Promise.all([
        outcome(limits.consume('k', policy, { deadline })),
        outcome(sessions.set('sid', Buffer.from('after'), { ttlMs: 600_000, deadline })),
        outcome(locks.acquire('job', { ttlMs: 600_000, deadline })),
      ]);
      expect(codes).toEqual(['TIMEOUT', 'TIMEOUT', 'TIMEOUT']);
      expect(Date.now() - startedAt, 'answered by the deadline, not the 5 s limit').toBeLessThan(1200);
      // The lock goes after 1.5 s; each waiting statement then writes and reaches the check.
      await sleep(Math.max(0, startedAt + 1500 - Date.now()));
    } finally {
      ours.mockRestore();
      await holder.query('COMMIT');
      holder.release();
    }
    await serverIdle(app);
    // Without the sample the deadline sent would be 5 s later by PostgreSQL's clock: all three would commit.
    const check: PostgresStoreOptions = { pool: admin, schema };
    expect((await new PostgresRateLimitStore(check).peek('k', policy)).remaining, 'the consume was not counted').toBe(4);
    const record = await new PostgresSessionStore(check).get('sid');
    expect([Buffer.from(record!.data).toString(), record!.version], 'the session was not written').toEqual(['before', 1]);
    expect((await new PostgresLockStore(check).acquire('job', { ttlMs: 60_000 }))?.fence, 'the lock was not taken').toBe(first.fence + 1);
    expect(samples(), "one sample for the pool's three stores").toBe(1);
    expect(serverClockOf(pool).offsetMs).toBeLessThan(-4000);
  }, 30_000);

  it('a stream append whose COMMIT is held past its deadline rolls back with PostgreSQL 5 s behind', async () => {
    const schema = await freshSchema();
    const late = new pg.Pool({ connectionString: proxy.url(backend.url), max: 1 });
    late.on('error', () => {});
    pools.push(late);
    const streams = new PostgresStreamStore({ pool: late, schema, statementTimeoutMs: 5000 });
    const check = new PostgresStreamStore({ pool: admin, schema });
    const ours = shiftOurClock(() => 5000);
    try {
      await streams.create('s', { contentType: 'text/plain' }); // samples the clock, through the proxy
      proxy.hold((chunk) => chunk.includes('COMMIT'));
      // A producer's append is a transaction (a plain one is a single statement, no COMMIT).
      const producer = { id: 'p', epoch: 0, seq: 0 };
      const err = (await streams
        .append('s', [Buffer.from('x')], { deadline: Date.now() + 400, producer })
        .catch((e: unknown) => e)) as ErrorLike;
      expect(err?.code, err?.message).toBe('TIMEOUT');
      expect(proxy.heldBytes()).toBeGreaterThan(0);
      await proxy.deliver(); // reaches PostgreSQL well within 5 s of the deadline
    } finally {
      ours.mockRestore();
    }
    expect((await check.read('s', '-1')).messages, 'the append rolled back').toEqual([]);
    await streams.close();
    await check.close();
  }, 20_000);

  it("only the pool's first writing call samples, first; reads send none; a minute later one call refreshes it", async () => {
    const schema = await freshSchema();
    const { pool, texts, samples } = recordingPool();
    const o: PostgresStoreOptions = { pool, schema };
    const [limits, sessions, locks] = [new PostgresRateLimitStore(o), new PostgresSessionStore(o), new PostgresLockStore(o)];
    const policy = { algorithm: 'fixed-window', limit: 100, windowMs: 3_600_000 } as const;
    expect(await sessions.get('s')).toBeUndefined(); // a read: no deadline sent, no sample
    expect(samples()).toBe(0);
    const before = texts.length;
    await limits.consume('k', policy);
    expect(texts.length - before).toBe(2);
    expect(texts[before], 'the sample goes first').toBe(CLOCK_SAMPLE_SQL);
    await sessions.set('s', Buffer.from('x'), { ttlMs: 60_000 });
    await locks.acquire('l', { ttlMs: 60_000 });
    for (let i = 0; i < 5; i++) await limits.consume('k', policy);
    expect(samples()).toBe(1);
    const sampledAt = serverClockOf(pool).refreshAt;

    const ours = shiftOurClock(() => 61_000);
    try {
      await limits.consume('k', policy);
      for (let i = 0; i < 3; i++) await limits.consume('k', policy);
      expect(samples(), 'one refresh').toBe(2);
      expect(serverClockOf(pool).refreshAt).toBeGreaterThan(sampledAt + 60_000);
    } finally {
      ours.mockRestore();
    }
  });

  it('a first sample held past the deadline: the call answers TIMEOUT by it and never sends its statement', async () => {
    const schema = await freshSchema();
    const { pool, texts } = recordingPool({ connectionString: proxy.url(backend.url), max: 1 });
    const sessions = new PostgresSessionStore({ pool, schema });
    expect(await sessions.get('s')).toBeUndefined(); // a read: opens the connection, no sample
    texts.length = 0;
    proxy.hold();
    const startedAt = Date.now();
    expect(await outcome(sessions.set('s', Buffer.from('x'), { ttlMs: 60_000, deadline: startedAt + 150 }))).toBe('TIMEOUT');
    expect(Date.now() - startedAt).toBeLessThan(1200);
    await proxy.deliver();
    expect(texts, 'only the sample was sent').toEqual([CLOCK_SAMPLE_SQL]);
    expect(await new PostgresSessionStore({ pool: admin, schema }).get('s')).toBeUndefined();
    // The late answer still serves: the next call sends its statement alone.
    expect(await sessions.set('s', Buffer.from('y'), { ttlMs: 60_000 })).toEqual({ version: 1 });
    expect(texts.length).toBe(2);
    await sessions.close();
  }, 20_000);

  it('a first sample that fails (connection refused) fails the call as UNAVAILABLE by its deadline', async () => {
    const pool = new pg.Pool({ connectionString: 'postgres://postgres@127.0.0.1:1/test', max: 2 });
    pool.on('error', () => {});
    pools.push(pool);
    const limits = new PostgresRateLimitStore({ pool, migrate: false });
    const startedAt = Date.now();
    const policy = { algorithm: 'gcra', limit: 1, windowMs: 1000 } as const;
    expect(await outcome(limits.consume('k', policy, { deadline: startedAt + 1000 }))).toBe('UNAVAILABLE');
    expect(Date.now() - startedAt).toBeLessThan(1000);
  });
});
