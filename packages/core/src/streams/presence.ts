// Which streams a name holds for direct use, how long a deleted or expired source is kept for
// its forks, and how streams leave the backend.

import { backend, type StoredStream, type StreamOp } from './backend.js';

/** What a name holds for direct use: nothing, a live stream, or a stream kept hidden for its forks (`GONE`). */
export type Presence = 'absent' | 'live' | 'gone';

export function isExpired(s: StoredStream, now: number): boolean {
  return s.deadline !== undefined && s.deadline <= now;
}

/**
 * A stream deleted or expired is kept, hidden, only while one of its forks still reads through
 * it: a live fork, or a fork itself kept for a live fork further down the chain. Once every
 * fork has expired or been deleted, the stream is absent at once, on the store's clock,
 * whether or not cleanup has run: cleanup only reclaims the space.
 */
export function* presence(s: StoredStream | undefined, now: number): StreamOp<Presence> {
  if (s === undefined) return 'absent';
  if (!s.deleted && !isExpired(s, now)) return 'live';
  return (yield* pinned(s, now)) ? 'gone' : 'absent';
}

/**
 * Whether a fork of `s` still reads through it (see {@link presence}). Only streams with forks
 * cost a backend call. The forks are peeked at, not locked: a fork can become absent meanwhile
 * (its removal then updates `s`, which the caller holds, after this operation), but nothing
 * makes a fork present again without holding `s` (a new fork locks its source). Locking them
 * here, from the source down, would deadlock with a fork's read or removal, which hold the fork
 * and then read or update its source.
 */
export function* pinned(s: StoredStream, now: number): StreamOp<boolean> {
  if (s.refCount === 0) return false;
  for (const fork of yield* backend.peekForks(s.name)) {
    if ((yield* presence(fork, now)) !== 'absent') return true;
  }
  return false;
}

/** Removes a stream and, when it was a source's last fork, the hidden sources up the chain; returns how many went. */
export function* removeCascade(s: StoredStream, now: number): StreamOp<number> {
  yield* backend.remove(s);
  let removed = 1;
  let child = s;
  while (child.forkedFrom !== undefined) {
    const parent = yield* backend.get(child.forkedFrom);
    if (parent === undefined) break;
    parent.refCount = Math.max(0, parent.refCount - 1);
    if (parent.refCount === 0 && (parent.deleted || isExpired(parent, now))) {
      yield* backend.remove(parent);
      removed++;
      child = parent;
    } else {
      yield* backend.update(parent);
      break;
    }
  }
  return removed;
}

/**
 * Removes a stream nothing reads through any more with every stream forked from it (all
 * absent too, or a fork would pin it), then as {@link removeCascade}. A name is reused only
 * after this: a stored fork always names the incarnation it was forked from.
 */
export function* removeTree(s: StoredStream, now: number): StreamOp<number> {
  let removed = 0;
  if (s.refCount > 0) for (const fork of yield* backend.forks(s.name)) removed += yield* removeForks(fork);
  return removed + (yield* removeCascade(s, now));
}

/** Removes `s` and its forks, all the way down, without touching its source. */
function* removeForks(s: StoredStream): StreamOp<number> {
  let removed = 1;
  if (s.refCount > 0) for (const fork of yield* backend.forks(s.name)) removed += yield* removeForks(fork);
  yield* backend.remove(s);
  return removed;
}
