import { describeOfficialSuite } from './helpers.js';
import { openMemoryStore } from './stores.js';

// The four backends run the suite under the base path /v1/stream/ with subscriptions on. This
// run covers the other layout, the CLI's default (base path /, streams named v1/stream/...,
// no subscriptions), once, on the cheapest store: routing does not depend on the backend.
describeOfficialSuite('official suite under the base path / without subscriptions (memory)', openMemoryStore, { rootBase: true });
