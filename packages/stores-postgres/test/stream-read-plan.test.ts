import { describeBackends, postgresBackends } from '@stowage/conformance/backends';
import { formatOffset } from '@stowage/core/adapter-kit';
import type pg from 'pg';
import { afterAll, expect, it } from 'vitest';
import { PostgresStreamStore } from '../src/index.js';
import { readStatements } from '../src/stream-read.js';
import { schemaPool } from './schema-pool.js';

const backends = await postgresBackends();
afterAll(() => Promise.all(backends.map((b) => b.stop())));

const COUNT = 20_000;
const BATCH = 1_000;
const FROM = 2_000;
const TAKE = 10;

interface PlanNode {
  'Relation Name'?: string;
  'Actual Rows': number;
  Plans?: PlanNode[];
}

/** Rows every node reading `relation` produced, summed over the plan. */
function rowsFrom(node: PlanNode, relation: string): number {
  const own = node['Relation Name'] === relation ? node['Actual Rows'] : 0;
  return own + (node.Plans ?? []).reduce((n, p) => n + rowsFrom(p, relation), 0);
}

describeBackends(backends.slice(0, 1), (backend) => {
  const { pool, fresh } = schemaPool(backend.url);

  /** EXPLAIN ANALYZE of a prepared statement, generic or custom plan: the rows it read from the messages table. */
  async function messageRows(client: pg.PoolClient, text: string, types: string, args: string, mode: string): Promise<number> {
    await client.query(`SET plan_cache_mode = ${mode}`);
    await client.query(`PREPARE seek(${types}) AS ${text}`);
    try {
      const { rows } = await client.query(`EXPLAIN (ANALYZE, FORMAT JSON) EXECUTE seek(${args})`);
      return rowsFrom((rows[0]['QUERY PLAN'] as { Plan: PlanNode }[])[0]!.Plan, 'stowage_stream_messages');
    } finally {
      await client.query('DEALLOCATE seek');
      await client.query('RESET plan_cache_mode');
    }
  }

  it('reads from deep in a stream never analysed by an index range of maxMessages rows, not a scan to the tail', async () => {
    const schema = fresh();
    const store = new PostgresStreamStore({ pool, schema });
    await store.create('deep', { contentType: 'application/octet-stream' });
    const M = `"${schema}"."stowage_stream_messages"`;
    // No statistics: autovacuum must not analyse the table behind the test's back (a fresh load, as in production).
    await pool.query(`ALTER TABLE ${M} SET (autovacuum_enabled = false)`);
    const batch = Array.from({ length: BATCH }, () => Buffer.alloc(100, 'x'));
    for (let done = 0; done < COUNT; done += BATCH) await store.append('deep', batch);

    const read = await store.read('deep', formatOffset(FROM), { maxMessages: TAKE });
    expect(read.messages.length).toBe(TAKE);

    const { read: whole, run } = readStatements(`"${schema}"."stowage_streams"`, M);
    const { rows } = await pool.query(`SELECT id FROM "${schema}"."stowage_streams" WHERE name = 'deep'`);
    const client = await pool.connect();
    try {
      for (const mode of ['force_generic_plan', 'force_custom_plan']) {
        // A whole read: name, from, max bytes, max messages, now (NULL: the server's clock).
        expect(
          await messageRows(client, whole.text, 'text, bigint, bigint, bigint, bigint', `'deep', ${FROM}, 1048576, ${TAKE}, NULL`, mode),
        ).toBe(TAKE);
        // The engine's run: id, after, up to, max bytes, max messages.
        expect(
          await messageRows(
            client,
            run.text,
            'text, bigint, bigint, bigint, bigint',
            `'${rows[0].id}', ${FROM}, ${COUNT}, 1048576, ${TAKE}`,
            mode,
          ),
        ).toBe(TAKE);
      }
    } finally {
      client.release();
    }
    await store.close();
  });
});
