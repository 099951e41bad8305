export { StowageSessionStore, type SessionData, type StowageSessionStoreOptions } from './session-store.js';
