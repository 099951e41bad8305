import { MemoryStreamStore } from '@stowage/stores-memory';
import { describeOfficialSuite } from './helpers.js';

describeOfficialSuite('official suite on MemoryStreamStore', async () => {
  const store = new MemoryStreamStore();
  return { store, close: () => store.close() };
});
