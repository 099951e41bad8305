import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { StreamStore } from '@stowage/core';
import { formatOffset } from '@stowage/core/adapter-kit';
import type { Comparison, Contender, Row } from '../harness.js';

/**
 * Reading from a deep offset: the time a store takes to answer a read of 100 messages from
 * the offset at 10 % and at 90 % of one stream of `BENCH_SEEK_MESSAGES` (default 1,000,000)
 * messages of 100 B. The store runs in this process (what is measured is the seek, not HTTP);
 * the stream is loaded once per backend, untimed, in batches of 1,000 through `append`.
 * Latency rows: the anchor is the read at 10 %, the ratio its p50 over the read at 90 %'s (a
 * seek by index keeps it near 1.00x; a scan would fall towards 0.11x). This read is what a
 * server does before the first byte of a GET from that offset, so it stands for the time to
 * first byte less HTTP; after the table, `seekRatios` prints the 90 % / 10 % ratio of p50 and
 * p99 per backend (the goal: at most 1.2x).
 */

const COUNT = Number(process.env.BENCH_SEEK_MESSAGES ?? 1_000_000);
const BATCH = 1000;
const NAME = 'seek';

interface Backend {
  name: string;
  open(): Promise<{ store: StreamStore; close(): Promise<void> }>;
}

async function load(store: StreamStore): Promise<void> {
  await store.create(NAME, { contentType: 'application/octet-stream' });
  const batch = Array.from({ length: BATCH }, () => Buffer.alloc(100, 'x'));
  const t0 = performance.now();
  for (let done = 0; done < COUNT; done += BATCH) await store.append(NAME, batch.slice(0, Math.min(BATCH, COUNT - done)));
  console.log(`  (loaded ${COUNT.toLocaleString('en-US')} messages in ${((performance.now() - t0) / 1000).toFixed(1)} s)`);
}

/** Three contenders on one loaded stream: reads from 10 %, 90 % and 50 % of it. */
function pair(b: Backend): [Contender, Contender, Contender] {
  let opened: Promise<{ store: StreamStore; close(): Promise<void> }> | undefined;
  let users = 0;
  const shared = () =>
    (opened ??= b.open().then(async (o) => {
      await load(o.store);
      return o;
    }));
  const contender = (share: number): Contender => ({
    library: `read 100 from ${share * 100} %`,
    setup: async () => {
      users++;
      const { store } = await shared();
      const offset = formatOffset(Math.floor(COUNT * share));
      return async () => {
        const t0 = performance.now();
        const r = await store.read(NAME, offset, { maxMessages: 100 });
        if (r.messages.length !== 100) throw new Error(`read ${r.messages.length} messages`);
        return performance.now() - t0;
      };
    },
    teardown: async () => {
      if (--users === 0 && opened !== undefined) await (await opened).close();
    },
  });
  // 50 %: the farthest from both ends (a list walked from its nearer end, as Redis's LRANGE does, is slowest there).
  return [contender(0.1), contender(0.9), contender(0.5)];
}

const SEEK = 'StreamStore seek';
// The rows read the same ranges again and again: the stores' read cache would answer them from
// the process after the first, and the goal is how the store itself finds a deep offset.
const UNCACHED = { readCacheBytes: 0 };

/** Per backend, the read at 90 %'s p50 and p99 over the read at 10 %'s (the goal: at most 1.2x). */
export function seekRatios(rows: Row[]): string[] {
  const lines: string[] = [];
  for (const deep of rows.filter((r) => r.contract === SEEK && r.library.endsWith('90 %'))) {
    const shallow = rows.find((r) => r.contract === SEEK && r.backend === deep.backend && r.library.endsWith('10 %'));
    if (shallow === undefined) continue;
    const p50 = deep.p50Us / shallow.p50Us;
    const p99 = deep.p99Us / shallow.p99Us;
    lines.push(`seek 90 % / 10 % [${deep.backend}]: p50 ${p50.toFixed(2)}x, p99 ${p99.toFixed(2)}x${p50 <= 1.2 ? '' : ' (over 1.2x)'}`);
  }
  return lines;
}

export async function streamsSeekComparisons(): Promise<Comparison[]> {
  const dir = mkdtempSync(join(tmpdir(), 'stowage-bench-seek-'));
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  const backends: Backend[] = [
    {
      name: 'memory',
      open: async () => {
        const { MemoryStreamStore } = await import('@stowage/stores-memory');
        const store = new MemoryStreamStore();
        return { store, close: () => store.close() };
      },
    },
    {
      name: 'sqlite file',
      open: async () => {
        const { SqliteStreamStore } = await import('@stowage/stores-sqlite');
        const { default: Database } = await import('better-sqlite3');
        const database = new Database(join(dir, 'seek.db'));
        const store = new SqliteStreamStore({ database, ...UNCACHED });
        return {
          store,
          close: async () => {
            await store.close();
            database.close();
          },
        };
      },
    },
    {
      name: 'postgres',
      open: async () => {
        const { PostgresStreamStore } = await import('@stowage/stores-postgres');
        const { default: pg } = await import('pg');
        const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test', max: 4 });
        pool.on('error', () => {});
        const schema = `bench_seek_${randomBytes(4).toString('hex')}`;
        const store = new PostgresStreamStore({ pool, schema, ...UNCACHED });
        return {
          store,
          close: async () => {
            await store.close();
            await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
            await pool.end();
          },
        };
      },
    },
    {
      name: 'redis',
      open: async () => {
        const { RedisStreamStore } = await import('@stowage/stores-redis');
        const { Redis } = await import('ioredis');
        const client = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
        const prefix = `bench:seek:${randomBytes(4).toString('hex')}:`;
        const store = new RedisStreamStore({ client, prefix, ...UNCACHED });
        return {
          store,
          close: async () => {
            await store.delete(NAME);
            await store.close();
            client.disconnect();
          },
        };
      },
    },
  ];
  return backends.map((b) => {
    const [anchor, ours, middle] = pair(b);
    return {
      contract: SEEK,
      operation: `read 100 × 100 B from deep in ${COUNT.toLocaleString('en-US')} messages`,
      backend: b.name,
      metric: 'latency' as const,
      anchor,
      ours,
      others: [middle],
    };
  });
}
