import { newNamespace } from '@stowage/conformance';
import pg from 'pg';
import { afterAll } from 'vitest';

/**
 * A pool on `url` and `fresh()`, a new schema name per call; every schema it named is dropped
 * and the pool ended after the file's tests. Call inside a describe block.
 */
export function schemaPool(url: string): { pool: pg.Pool; fresh: () => string } {
  const pool = new pg.Pool({ connectionString: url, max: 6 });
  pool.on('error', () => {});
  const schemas: string[] = [];
  const fresh = (): string => {
    const s = newNamespace().slice(0, -1);
    schemas.push(s);
    return s;
  };
  afterAll(async () => {
    for (const s of schemas) await pool.query(`DROP SCHEMA IF EXISTS "${s}" CASCADE`);
    await pool.end();
  });
  return { pool, fresh };
}
