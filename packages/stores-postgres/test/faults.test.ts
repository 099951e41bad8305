import { execFileSync } from 'node:child_process';
import { newNamespace, type ErrorLike } from '@stowage/conformance';
import { describeBackends, postgresBackends, requestedImages, startContainer } from '@stowage/conformance/backends';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { migrate, PostgresRateLimitStore, PostgresSessionStore, PostgresStreamStore, postgresHealth } from '../src/index.js';

const backends = await postgresBackends();
// Only the first backend runs these tests; stop every container started for the file.
afterAll(() => Promise.all(backends.map((b) => b.stop())));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs `op` in `workers` loops until `ms` passes; records outcomes and the slowest call. */
async function load<T>(workers: number, ms: number, op: (i: number) => Promise<T>) {
  const ok: T[] = [];
  const errors: ErrorLike[] = [];
  let slowest = 0;
  let i = 0;
  const end = Date.now() + ms;
  await Promise.all(
    Array.from({ length: workers }, async () => {
      while (Date.now() < end) {
        const t0 = Date.now();
        try {
          ok.push(await op(i++));
        } catch (err) {
          errors.push(err as ErrorLike);
        }
        slowest = Math.max(slowest, Date.now() - t0);
      }
    }),
  );
  return { ok, errors, slowest };
}

describeBackends(backends.slice(0, 1), (backend) => {
  const admin = new pg.Pool({ connectionString: backend.url, max: 2 });
  admin.on('error', () => {});
  afterAll(() => admin.end());

  it('pg_terminate_backend mid-load: in-flight calls fail with UNAVAILABLE, none hangs or lies, the next ones succeed', async () => {
    const app = `stowage-fault-${Math.random().toString(36).slice(2)}`;
    const pool = new pg.Pool({ connectionString: backend.url, max: 8, application_name: app });
    pool.on('error', () => {});
    const schema = newNamespace().slice(0, -1);
    await migrate(pool, { schema });
    const limits = new PostgresRateLimitStore({ pool, schema, statementTimeoutMs: 2000 });
    const sessions = new PostgresSessionStore({ pool, schema, statementTimeoutMs: 2000 });
    const policy = { algorithm: 'fixed-window', limit: 1_000_000, windowMs: 3_600_000 } as const;
    const killer = (async () => {
      for (let k = 0; k < 3; k++) {
        await sleep(250);
        await admin.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1`, [app]);
      }
    })();
    const run = await load(32, 1500, (i) =>
      i % 2 === 0 ? limits.consume('hot', policy) : sessions.set(`s${i % 50}`, Buffer.from([i & 255]), { ttlMs: 60_000 }),
    );
    await killer;
    expect(run.errors.length, 'the terminations hit calls in flight').toBeGreaterThan(0);
    for (const e of run.errors) {
      expect(e.name).toBe('StowageError');
      expect(e.code, e.message).toBe('UNAVAILABLE');
    }
    expect(run.slowest).toBeLessThan(2000 + 1000);
    // No answer was wrong: every allowed decision was counted by the database.
    const allowed = run.ok.filter((r) => (r as { allowed?: boolean }).allowed === true).length;
    const used = 1_000_000 - (await limits.peek('hot', policy)).remaining;
    expect(used).toBeGreaterThanOrEqual(allowed);
    expect(used).toBeLessThanOrEqual(allowed + run.errors.length);
    // And the store goes on.
    expect((await limits.consume('hot', policy)).allowed).toBe(true);
    expect(await sessions.set('after', Buffer.from('x'), { ttlMs: 60_000 })).toEqual({ version: 1 });
    await limits.close();
    await sessions.close();
    await admin.query(`DROP SCHEMA "${schema}" CASCADE`);
    await pool.end();
  }, 60_000);

  it('a stream waiter survives the loss of the LISTEN connection and still wakes', async () => {
    const app = `stowage-listen-${Math.random().toString(36).slice(2)}`;
    const pool = new pg.Pool({ connectionString: backend.url, max: 4, application_name: app });
    pool.on('error', () => {});
    const schema = newNamespace().slice(0, -1);
    const waiter = new PostgresStreamStore({ pool, schema });
    const writer = new PostgresStreamStore({ pool: admin, schema });
    const { info } = await waiter.create('s', { contentType: 'text/plain' });
    const waiting = waiter.wait('s', info.nextOffset, 20_000);
    await sleep(100);
    await admin.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1 AND query LIKE 'LISTEN%'`, [app]);
    await sleep(50);
    await writer.append('s', [Buffer.from('x')]);
    expect(await waiting).toBe('data');
    // Listening again: a later append wakes a later wait too.
    const next = await waiter.read('s', '-1');
    const second = waiter.wait('s', next.nextOffset, 20_000);
    await sleep(500);
    await writer.append('s', [Buffer.from('y')]);
    expect(await second).toBe('data');
    await waiter.close();
    await writer.close();
    await admin.query(`DROP SCHEMA "${schema}" CASCADE`);
    await pool.end();
  }, 60_000);
});

// Needs a container engine of its own; with DATABASE_URL set (no containers) it is reported as skipped.
describe.skipIf(process.env.DATABASE_URL !== undefined)('a PostgreSQL container stopped, paused and started again', () => {
  const image = requestedImages('postgres')[0]!;
  // Below Linux's ephemeral ports (32768 and up): restarted, the container binds this host port
  // again, which a test's outgoing connection could hold meanwhile.
  const port = 28000 + Math.floor(Math.random() * 4000);
  let containerId: string | undefined;
  afterAll(async () => {
    if (containerId !== undefined) execFileSync('docker', ['rm', '-f', '-v', containerId], { stdio: 'ignore' });
  });

  it(`${image}: calls fail fast with UNAVAILABLE or TIMEOUT while it is down, and the store recovers without a restart`, async () => {
    const container = await startContainer('postgres', image, { hostPort: port });
    const id = container.id;
    containerId = id;
    const pool = new pg.Pool({ connectionString: container.url, max: 4, connectionTimeoutMillis: 1000 });
    pool.on('error', () => {});
    const sessions = new PostgresSessionStore({ pool, statementTimeoutMs: 1500 });
    await sessions.set('before', Buffer.from('x'), { ttlMs: 600_000 });

    // Paused: the server hangs instead of refusing. No call waits past the limit: a call on
    // an open connection gives TIMEOUT, one that needs a new connection UNAVAILABLE.
    execFileSync('docker', ['pause', id]);
    const t0 = Date.now();
    const paused = await Promise.allSettled(Array.from({ length: 5 }, () => sessions.get('before')));
    expect(Date.now() - t0).toBeLessThan(1500 + 1000);
    for (const r of paused) expect(['TIMEOUT', 'UNAVAILABLE']).toContain((r as PromiseRejectedResult).reason?.code);
    expect((await postgresHealth(pool, 500)).ok).toBe(false);
    execFileSync('docker', ['unpause', id]);
    await sleep(200);
    expect((await sessions.get('before'))?.version).toBe(1);

    // A wait pending when it stops ends with an error (its LISTEN connection is lost, it
    // polls, the look fails) instead of waiting out its own limit, far past the test.
    const streams = new PostgresStreamStore({ pool, statementTimeoutMs: 1500, pollMs: 200 });
    await migrate(pool);
    const stream = `s-${Date.now()}`;
    const { info } = await streams.create(stream, { contentType: 'text/plain' });
    const waiting = streams.wait(stream, info.nextOffset, 600_000).then(
      (outcome) => ({ outcome }),
      (err: ErrorLike) => ({ code: err.code }),
    );
    // Subscribed: its first look answered and LISTEN up (a wait at once would find nothing new).
    await sleep(300);

    // Stopped: connections are refused. Calls give UNAVAILABLE (or TIMEOUT), quickly.
    // Killed, as a crashed host would leave it: started again, it runs crash recovery.
    execFileSync('docker', ['stop', '--time', '0', id]);
    const ended = (await waiting) as { code?: string };
    expect(['UNAVAILABLE', 'TIMEOUT']).toContain(ended.code);
    const down = await Promise.allSettled(Array.from({ length: 5 }, () => sessions.get('before')));
    for (const r of down) expect(['UNAVAILABLE', 'TIMEOUT']).toContain((r as PromiseRejectedResult).reason?.code);
    expect((await postgresHealth(pool, 500)).ok).toBe(false);

    // Started again (same host port): the same store and pool work again.
    execFileSync('docker', ['start', id]);
    let recovered = false;
    for (let k = 0; k < 100 && !recovered; k++) {
      try {
        await sessions.set('after', Buffer.from('y'), { ttlMs: 600_000 });
        recovered = true;
      } catch {
        await sleep(200);
      }
    }
    expect(recovered).toBe(true);
    expect((await sessions.get('before'))?.version).toBe(1);
    expect((await postgresHealth(pool)).ok).toBe(true);
    await streams.close();
    await sessions.close();
    await pool.end();
  }, 120_000);
});
