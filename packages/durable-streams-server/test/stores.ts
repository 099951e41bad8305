import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeBackends, postgresBackends, redisBackends } from '@stowage/conformance/backends';
import { MemoryStreamStore } from '@stowage/stores-memory';
import { PostgresStreamStore } from '@stowage/stores-postgres';
import { RedisStreamStore } from '@stowage/stores-redis';
import { SqliteStreamStore } from '@stowage/stores-sqlite';
import Database from 'better-sqlite3';
import { Redis } from 'ioredis';
import pg from 'pg';
import { describe } from 'vitest';
import { randomSuffix, type OpenedTestStore } from './helpers.js';

/**
 * One `describe` per backend: memory, a SQLite WAL file, and each PostgreSQL and Redis
 * backend (`DATABASE_URL` / `REDIS_URL`, or containers). `open` makes a fresh store (its own
 * schema / key prefix / file); `close` drops what it wrote.
 */
export async function describeEveryStore(body: (open: () => Promise<OpenedTestStore>) => void): Promise<void> {
  describe('MemoryStreamStore', () =>
    body(async () => {
      const store = new MemoryStreamStore();
      return { store, close: () => store.close() };
    }));
  describe('SqliteStreamStore (a WAL file)', () =>
    body(async () => {
      const dir = mkdtempSync(join(tmpdir(), 'stowage-ds-'));
      const database = new Database(join(dir, 'streams.db'));
      const store = new SqliteStreamStore({ database });
      return {
        store,
        close: async () => {
          await store.close();
          database.close();
          rmSync(dir, { recursive: true, force: true });
        },
      };
    }));
  describeBackends(await postgresBackends(), (backend) =>
    describe('PostgresStreamStore', () =>
      body(async () => {
        const pool = new pg.Pool({ connectionString: backend.url, max: 10 });
        pool.on('error', () => {});
        const schema = `ds_${randomSuffix()}`;
        const store = new PostgresStreamStore({ pool, schema });
        return {
          store,
          close: async () => {
            await store.close();
            await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
            await pool.end();
          },
        };
      })),
  );
  describeBackends(await redisBackends(), (backend) =>
    describe('RedisStreamStore', () =>
      body(async () => {
        const client = new Redis(backend.url);
        const prefix = `ds:${randomSuffix()}:`;
        const store = new RedisStreamStore({ client, prefix });
        return {
          store,
          close: async () => {
            await store.close();
            let cursor = '0';
            do {
              const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
              if (keys.length > 0) await client.unlink(...keys);
              cursor = next;
            } while (cursor !== '0');
            client.disconnect();
          },
        };
      })),
  );
}
