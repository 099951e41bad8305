export {
  StowageKoaSessionStore,
  type KoaSessionConflict,
  type KoaSessionData,
  type KoaStoreCallOptions,
  type StowageKoaSessionStoreOptions,
} from './store.js';
