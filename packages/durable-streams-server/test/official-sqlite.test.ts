import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteStreamStore } from '@stowage/stores-sqlite';
import Database from 'better-sqlite3';
import { describeOfficialSuite } from './helpers.js';

describeOfficialSuite('official suite on SqliteStreamStore (a WAL file)', async () => {
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
});
