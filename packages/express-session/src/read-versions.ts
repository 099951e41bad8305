/**
 * The version of a session as one request read it, kept with the session object the
 * framework builds for that request, so that each request writes with its own `ifVersion`
 * (two requests of one session on one replica each keep theirs; a per-id map could not).
 *
 * @module
 */

/**
 * @fastify/session copies a loaded session into its own object with `for...in`, which sees
 * enumerable string keys only (symbols and non-enumerable properties are lost), so the
 * marker is a string key. It is inherited on the object `get` returns (that object's own
 * keys stay the session's), and removed from the copy at its first write, before encoding.
 */
const MARKER = '__stowageReadVersion';

/** The version one request read; moves on when that request's write succeeds. */
class ReadVersion {
  constructor(public version: number) {}

  /** JSON, and @fastify/session's change detection, skip a value that serializes to undefined. */
  toJSON(): undefined {
    return undefined;
  }
}

/** Which version each session object (of each request) was read at. */
export class ReadVersions {
  private readonly byObject = new WeakMap<object, ReadVersion>();

  /** Marks `data`, just decoded by `get`, as read at `version`. */
  attach(data: object, version: number): void {
    const read = new ReadVersion(version);
    this.byObject.set(data, read);
    Object.setPrototypeOf(data, { [MARKER]: read });
  }

  /** express-session's `createSession`: the Session built from `data` was read with it. */
  follow(data: object, session: object): void {
    const read = this.byObject.get(data);
    if (read === undefined) return;
    this.byObject.set(session, read);
    // express-session's Session copies inherited keys too; keep the user's object clean.
    if (Object.hasOwn(session, MARKER)) delete (session as Record<string, unknown>)[MARKER];
  }

  /**
   * The version `session` was read at, or `undefined` for a session that was never loaded
   * (a new one). A marker copied onto `session` is removed here, so no codec sees it.
   */
  of(session: object): ReadVersion | undefined {
    const known = this.byObject.get(session);
    if (known !== undefined) return known;
    const copied = (session as Record<string, unknown>)[MARKER];
    if (!(copied instanceof ReadVersion)) return undefined;
    if (Object.hasOwn(session, MARKER)) delete (session as Record<string, unknown>)[MARKER];
    this.byObject.set(session, copied);
    return copied;
  }

  /** After a successful write of `session`: its next write expects `version`. */
  wrote(session: object, read: ReadVersion | undefined, version: number): void {
    if (read === undefined) this.byObject.set(session, new ReadVersion(version));
    else read.version = version;
  }
}
