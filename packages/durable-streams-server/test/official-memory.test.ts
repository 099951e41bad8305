import { describeOfficialSuite } from './helpers.js';
import { openMemoryStore } from './stores.js';

describeOfficialSuite('official suite on MemoryStreamStore', openMemoryStore);
