/**
 * What each request read, kept with that request's Koa context: koa-session hands the store
 * `ctx` on every call, and builds a fresh object for each save (`session.toJSON()`), so the
 * context is the one thing that ties a save to the read it follows. Two requests of one
 * session, on one replica or two, each keep their own.
 *
 * @module
 */

/** One request's view of one session key. */
export interface Read {
  /** The version this request read or last wrote; its next write expects it. */
  version: number;
  /** The session as read or last written, without `_expire` ({@link contentOf}); `undefined` if JSON cannot say. */
  content: string | undefined;
}

/** The reads of each request (by its Koa context), per session key. */
export class Reads {
  private readonly byContext = new WeakMap<object, Map<string, Read>>();

  /** What `ctx` read of `key`, or `undefined` (a new session, or no context to go by). */
  of(ctx: unknown, key: string): Read | undefined {
    return isObject(ctx) ? this.byContext.get(ctx)?.get(key) : undefined;
  }

  /** Records that `ctx` now holds `key` at `version`, with this content. */
  hold(ctx: unknown, key: string, version: number, content: string | undefined): void {
    if (!isObject(ctx)) return;
    let keys = this.byContext.get(ctx);
    if (keys === undefined) this.byContext.set(ctx, (keys = new Map()));
    const read = keys.get(key);
    if (read === undefined) keys.set(key, { version, content });
    else Object.assign(read, { version, content });
  }

  /** `ctx` no longer holds `key` (it found none, or destroyed it). */
  drop(ctx: unknown, key: string): void {
    if (isObject(ctx)) this.byContext.get(ctx)?.delete(key);
  }
}

/**
 * The session as koa-session hands it to the store, less `_expire` (the cookie's expiry,
 * which koa-session moves on every save): two saves with the same content are the same
 * session, whatever their expiry. `undefined` when JSON cannot encode it (the codec refuses
 * such a session anyway).
 */
export function contentOf(session: object): string | undefined {
  const { _expire: _ignored, ...rest } = session as Record<string, unknown>;
  try {
    return JSON.stringify(rest);
  } catch {
    return undefined;
  }
}

const isObject = (value: unknown): value is object => (typeof value === 'object' && value !== null) || typeof value === 'function';
