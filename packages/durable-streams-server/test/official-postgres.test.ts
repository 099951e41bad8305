import { describeBackends, imagesForAppSuites, postgresBackends } from '@stowage/conformance/backends';
import { describeOfficialSuite } from './helpers.js';
import { openPostgresStore } from './stores.js';

// 20 connections: the official suite runs many requests at once.
describeBackends(await postgresBackends(imagesForAppSuites('postgres')), (backend) => {
  describeOfficialSuite('official suite on PostgresStreamStore', () => openPostgresStore(backend.url, 20));
});
