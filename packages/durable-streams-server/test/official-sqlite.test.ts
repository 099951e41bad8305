import { describeOfficialSuite } from './helpers.js';
import { openSqliteFileStore } from './stores.js';

describeOfficialSuite('official suite on SqliteStreamStore (a WAL file)', openSqliteFileStore);
