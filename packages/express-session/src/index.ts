export { StowageSessionStore, type SessionData, type SessionWriteConflict, type StowageSessionStoreOptions } from './session-store.js';
