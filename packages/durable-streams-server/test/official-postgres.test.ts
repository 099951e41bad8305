import { describeBackends, postgresBackends } from '@stowage/conformance/backends';
import { PostgresStreamStore } from '@stowage/stores-postgres';
import pg from 'pg';
import { describeOfficialSuite, randomSuffix } from './helpers.js';

const backends = await postgresBackends();

describeBackends(backends, (backend) => {
  describeOfficialSuite('official suite on PostgresStreamStore', async () => {
    const pool = new pg.Pool({ connectionString: backend.url, max: 20 });
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
  });
});
