import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { newNamespace } from '@stowage/conformance';
import { describeBackends, imagesForAppSuites, postgresBackends, redisBackends } from '@stowage/conformance/backends';
import type { StreamReadResult, StreamStore } from '@stowage/core';
import { formatOffset } from '@stowage/core/adapter-kit';
import { PostgresStreamStore } from '@stowage/stores-postgres';
import { RedisStreamStore } from '@stowage/stores-redis';
import { SqliteStreamStore } from '@stowage/stores-sqlite';
import Database from 'better-sqlite3';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';

// The SQLite, PostgreSQL and Redis stream stores keep messages they have read (`readCacheBytes`) and
// fetch only the stream's record and what follows them. Two replicas of one store: `cached`
// reads through its cache; `plain` (no cache) writes and is the reference. Whatever the other
// replica does meanwhile (appends, deletes and makes a name again), every read of `cached` must
// answer what `plain` answers.

const TEXT = 'text/plain';
const HOUR = 3_600_000;

interface Replicas {
  cached: StreamStore;
  plain: StreamStore;
  /** Changes message `position` of `name` in the database itself, behind both stores' backs. */
  tamper(name: string, position: number, data: Buffer): Promise<void>;
  close(): Promise<void>;
}

const pgBackends = await postgresBackends(imagesForAppSuites('postgres'));
const redisB = await redisBackends(imagesForAppSuites('redis'));
afterAll(() => Promise.all([...pgBackends, ...redisB].map((b) => b.stop())));

function postgresReplicas(url: string): Replicas {
  const pools = [new pg.Pool({ connectionString: url, max: 2 }), new pg.Pool({ connectionString: url, max: 2 })];
  const schema = newNamespace().slice(0, -1);
  const cached = new PostgresStreamStore({ pool: pools[0]!, schema });
  const plain = new PostgresStreamStore({ pool: pools[1]!, schema, readCacheBytes: 0 });
  return {
    cached,
    plain,
    tamper: async (name, position, data) => {
      const id = (await plain.head(name))!.id;
      const sql = `UPDATE "${schema}"."stowage_stream_messages" SET data = $3 WHERE stream_id = $1 AND position = $2`;
      expect((await pools[1]!.query(sql, [id, position, data])).rowCount).toBe(1);
    },
    close: async () => {
      await Promise.all([cached.close(), plain.close()]);
      await pools[1]!.query(`DROP SCHEMA "${schema}" CASCADE`);
      await Promise.all(pools.map((p) => p.end()));
    },
  };
}

function redisReplicas(url: string): Replicas {
  const clients = [new Redis(url), new Redis(url)];
  const prefix = newNamespace();
  const cached = new RedisStreamStore({ client: clients[0]!, prefix });
  const plain = new RedisStreamStore({ client: clients[1]!, prefix, readCacheBytes: 0 });
  return {
    cached,
    plain,
    tamper: async (name, position, data) => {
      const id = (await plain.head(name))!.id;
      await clients[1]!.lset(`${prefix}{streams}:d:${id}`, position - 1, data);
    },
    close: async () => {
      await Promise.all([cached.close(), plain.close()]);
      const keys = await clients[1]!.keys(`${prefix}*`);
      if (keys.length > 0) await clients[1]!.del(...keys);
      await Promise.all(clients.map((c) => c.quit()));
    },
  };
}

/** Two connections to one file, as two processes would have. */
function sqliteReplicas(): Replicas {
  const dir = mkdtempSync(join(tmpdir(), 'stowage-read-cache-'));
  const file = join(dir, 'streams.db');
  const dbs = [new Database(file), new Database(file)];
  for (const db of dbs) db.pragma('journal_mode = WAL');
  const cached = new SqliteStreamStore({ database: dbs[0]! });
  const plain = new SqliteStreamStore({ database: dbs[1]!, readCacheBytes: 0 });
  return {
    cached,
    plain,
    tamper: async (name, position, data) => {
      const id = (await plain.head(name))!.id;
      const sql = 'UPDATE stowage_stream_messages SET data = ? WHERE stream_id = ? AND position = ?';
      expect(dbs[1]!.prepare(sql).run(data, id, position).changes).toBe(1);
    },
    close: async () => {
      await Promise.all([cached.close(), plain.close()]);
      for (const db of dbs) db.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A read as data, or its refusal's code. */
async function answer(read: Promise<StreamReadResult>): Promise<unknown> {
  try {
    const r = await read;
    const data = r.messages.map((m) => Buffer.from(m.data).toString('hex'));
    return { data, bytes: r.bytes && Buffer.from(r.bytes).toString('hex'), next: r.nextOffset, atTail: r.atTail, closed: r.closed };
  } catch (err) {
    return { code: (err as { code?: string }).code };
  }
}

// Sizes that vary, so byte limits fall inside and between messages.
const messages = (tag: string, count: number, from = 0) =>
  Array.from({ length: count }, (_, i) => Buffer.from(`${tag}${from + i}:${'x'.repeat(((from + i) * 37) % 90)}`));

/** Every case on replicas `open` makes. */
function readCacheTests(open: () => Replicas): void {
  it('a replica reading through its cache answers what an uncached one does, while the other appends, deletes and re-creates', async () => {
    const r = open();
    try {
      const { cached, plain } = r;
      await plain.create('s', { contentType: TEXT }, { messages: messages('s', 30) });
      await plain.create('t', { contentType: TEXT, ttlMs: HOUR }, { messages: messages('t', 12) }); // read renews: another path
      await plain.create('f', { contentType: TEXT }, { fork: { from: 's', offset: formatOffset(20) }, messages: messages('f', 5) });
      await plain.create('r', { contentType: TEXT }, { messages: messages('r', 15) });
      let reads = 0;
      for (let round = 0; round < 5; round++) {
        for (const name of ['s', 't', 'f', 'r']) {
          const tail = Number((await plain.head(name))!.nextOffset.split('_')[1]);
          const froms = [-1, 0, 1, 5, 19, 20, 21, 29, tail - 1, tail].filter((p) => p <= tail);
          for (const from of new Set(froms)) {
            for (const maxBytes of [1, 60, 400, 1 << 20]) {
              for (const maxMessages of [1, 7, 1000]) {
                const offset = from < 0 ? '-1' : formatOffset(from);
                const label = `round ${round}, ${name} from ${offset}, maxBytes ${maxBytes}, maxMessages ${maxMessages}`;
                const opts = { maxBytes, maxMessages, readOnly: reads % 2 === 0 };
                const got = await answer(cached.read(name, offset, opts));
                expect(got, label).toEqual(await answer(plain.read(name, offset, { maxBytes, maxMessages })));
                reads++;
              }
            }
          }
        }
        // Between rounds the other replica changes every stream.
        await plain.append('s', messages('s', 3, 30 + round * 3));
        await plain.append('t', messages('t', 2, 12 + round * 2));
        await plain.append('f', messages('f', 4, 5 + round * 4));
        expect(await plain.delete('r')).toBe(true);
        // Made again shorter, then longer, than what the cached replica has read of it.
        await plain.create('r', { contentType: TEXT }, { messages: messages(`r${round}-`, round % 2 === 0 ? 3 : 40) });
      }
      expect(reads).toBeGreaterThan(1000);
    } finally {
      await r.close();
    }
  });

  it('messages read once come from the process: a change behind the stores shows only to the uncached replica', async () => {
    const r = open();
    try {
      await r.plain.create('s', { contentType: TEXT }, { messages: messages('s', 10) });
      const first = await answer(r.cached.read('s', '-1'));
      await r.tamper('s', 3, Buffer.from('changed'));
      expect(await answer(r.cached.read('s', '-1'))).toEqual(first);
      const plain = (await r.plain.read('s', '-1')).messages.map((m) => Buffer.from(m.data).toString());
      expect(plain[2]).toBe('changed');
    } finally {
      await r.close();
    }
  });
}

describe('SQLite stream read cache', () => readCacheTests(sqliteReplicas));
describe('PostgreSQL stream read cache', () => describeBackends(pgBackends, (b) => readCacheTests(() => postgresReplicas(b.url))));
describe('Redis stream read cache', () => describeBackends(redisB, (b) => readCacheTests(() => redisReplicas(b.url))));
