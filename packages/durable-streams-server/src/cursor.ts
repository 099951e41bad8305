import { randomInt } from 'node:crypto';

/** The cursor epoch the protocol suggests: 2024-10-09T00:00:00Z. */
const CURSOR_EPOCH_MS = Date.UTC(2024, 9, 9);
/** Cursor interval: 20 s. */
const INTERVAL_MS = 20_000;
/** Jitter added on a collision: 1 to 3600 s, in intervals. */
const MAX_JITTER_INTERVALS = 3600_000 / INTERVAL_MS;

/**
 * The `Stream-Cursor` of a live response: the current 20 s interval number, or, when the
 * client already holds that interval (or a later one), a number strictly after the client's,
 * so CDN cache keys always move forward.
 */
export function nextCursor(clientCursor: string | null, now: number = Date.now()): string {
  const interval = Math.floor((now - CURSOR_EPOCH_MS) / INTERVAL_MS);
  if (clientCursor !== null && /^\d{1,15}$/.test(clientCursor)) {
    const held = Number(clientCursor);
    if (held >= interval) return String(held + randomInt(1, MAX_JITTER_INTERVALS + 1));
  }
  return String(interval);
}
