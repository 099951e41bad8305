import { randomBytes } from 'node:crypto';
import type { CallOptions, SessionRecord, SessionSetOptions, SessionStore } from '@stowage/core';
import {
  STORE_CALLS,
  deadlineOf,
  type ErrorSource,
  readClock,
  validateDestroyByOwnerArgs,
  validateDuration,
  validateKey,
  validateRotateArgs,
  validateSessionSet,
  sizeLimit,
  type SessionSizeOptions,
  type OwnOptionNames,
} from '@stowage/core/adapter-kit';
import { didNotRun, RedisStoreBase, Script, tagged, type RedisStoreOptions } from './base.js';

const CALLS = STORE_CALLS.session;

export interface RedisSessionStoreOptions extends RedisStoreOptions, SessionSizeOptions {}

const S = {
  get: new Script('session_get'),
  set: new Script('session_set'),
  touch: new Script('session_touch'),
  destroy: new Script('session_destroy'),
  rotate: new Script('session_rotate'),
  take: new Script('session_take'),
  put: new Script('session_put'),
  unmark: new Script('session_unmark'),
  destroyOwner: new Script('session_destroy_owner'),
  prune: new Script('session_prune'),
  due: new Script('session_due'),
};

/**
 * How long a Cluster rotate's mark lives at least (ms; five times the store's `timeoutMs` when
 * longer): the rotate gives its session back under the old id only within this time of the
 * take (a late answer of the take included).
 */
const ROTATION_MARK_MS = 60_000;

/** Owners looked at per prune script (each with its whole index). */
const PRUNE_OWNERS = 100;

type Fields = [Buffer, Buffer, Buffer, Buffer, Buffer];
/** A session's fields, in the order of {@link Fields}. */
const FIELDS: readonly string[] = ['data', 'version', 'exp', 'abs', 'owner'];
type MaybeFields = [Buffer | null, Buffer | null, Buffer | null, Buffer | null, Buffer | null];

/** This store's options beyond the backend's. */
const OWN_OPTIONS: OwnOptionNames<RedisSessionStoreOptions, RedisStoreOptions> = { maxDataBytes: true };

/**
 * {@link SessionStore} on Redis: a hash per session (`<prefix>s:{id}`), expired by Redis,
 * and a set per owner (`<prefix>o:{owner}`) indexing its sessions.
 *
 * Atomicity. Standalone Redis (and Valkey): every method is one script, `rotate` and
 * `destroyByOwner` included. Redis Cluster: a session and its owner's index live in
 * different slots, so (1) `set` with an owner adds the id to the index before writing the
 * session (an index entry never lags its session; a stale entry is harmless), (2) `rotate`
 * takes the old session (a script deletes and returns it, so one caller alone moves it, and
 * marks the old id: `<prefix>m:{id}`, for a minute), then writes it under the new id, putting
 * it back if the new id is taken or a step failed (only while the mark is its own: a
 * `destroy` meanwhile deletes it, so a failed rotate never undoes a sign-out; after a write
 * under the new id, a mark found gone ends that session too and the rotate answers false), and (3)
 * `destroyByOwner` reads the index and deletes each session that still belongs to the
 * owner, one script per session. Each step is atomic; a session created by a concurrent
 * `set` may survive a concurrent sign-out, and during a `rotate` neither id resolves.
 *
 * Owner indexes have no expiry (a touched session may outlive any fixed one); `prune()` and
 * `destroyByOwner` remove entries of sessions that are gone. So that `prune()` costs what our
 * own records hold, never a scan of the database, `<prefix>owners` is a sorted set of the
 * owners whose index may hold such an entry, each scored with the time from which it may:
 * `set` and `rotate` lower it to the session's expiry, `prune()` looks at the owners due and
 * scores each again with the earliest expiry of its live sessions (a `touch` makes an owner
 * due early, once). On a Cluster the score of `set` comes from our clock (`Date.now()`, or the
 * custom clock) and `set` adds it after the index entry, so an indexed owner is always due.
 */
export class RedisSessionStore extends RedisStoreBase implements SessionStore {
  private readonly maxDataBytes: number;
  /** The owners due for pruning (see the class's comment). */
  private readonly dueKey: string;
  private readonly ourClock: (() => number) | undefined;

  constructor(options: RedisSessionStoreOptions) {
    super('RedisSessionStore', options, OWN_OPTIONS);
    this.maxDataBytes = sizeLimit(this.source, options, 'maxDataBytes');
    this.dueKey = `${this.prefix}owners`;
    this.ourClock = options.clock;
    this.instrument('session');
  }

  /** On a Cluster, the due time of an owner given a session lasting `ttlMs` from now, on our clock. */
  private dueAfter(ttlMs: number): number {
    return (this.ourClock === undefined ? Date.now() : readClock(this.source, this.ourClock)) + ttlMs;
  }

  private key(id: string): string {
    return tagged(this.prefix, 's', id);
  }

  private ownerKey(owner: string): string {
    return tagged(this.prefix, 'o', owner);
  }

  /** Redis Cluster: the mark of a rotate under way from `id` (same slot; see `session_take.lua`). */
  private rotationMark(id: string): string {
    return tagged(this.prefix, 'm', id);
  }

  /** The keys of `session_destroy.lua`: on a Cluster, the session's rotation mark too. */
  private destroyKeys(id: string): string[] {
    return this.isCluster ? [this.key(id), this.rotationMark(id)] : [this.key(id)];
  }

  async get(id: string, opts?: CallOptions): Promise<SessionRecord | undefined> {
    validateKey(this.source, 'id', id);
    const deadline = deadlineOf(this.source, opts, CALLS.get);
    if (this.serverClock) {
      // Redis drops a session exactly when it expires (see `expire` in lib.lua), so a plain
      // HMGET, cheaper than any script, answers as the script would.
      const key = this.key(id);
      const v = await this.command<MaybeFields>('HMGET', key, FIELDS, deadline, true);
      return v[1] === null ? undefined : record(this.source, v);
    }
    const v = await this.run<Fields | null>(S.get, [this.key(id)], [], deadline, true);
    return v === null ? undefined : record(this.source, v);
  }

  async set(id: string, data: Uint8Array, opts: SessionSetOptions): Promise<{ version: number }> {
    const v = validateSessionSet(this.source, id, data, opts, this.maxDataBytes);
    const deadline = deadlineOf(this.source, opts, CALLS.set);
    const ttl = v.ttlMs;
    const abs = v.absoluteTtlMs ?? '';
    const ifVersion = v.ifVersion ?? '';
    const owner = v.owner ?? '';
    const keys = this.isCluster ? [this.key(id)] : [this.key(id), this.dueKey];
    if (owner !== '') {
      if (!this.isCluster) keys.push(this.ownerKey(owner));
      else {
        await this.command('SADD', this.ownerKey(owner), [id], deadline);
        const due = this.dueAfter(Math.min(ttl, v.absoluteTtlMs ?? ttl));
        await this.command('ZADD', this.dueKey, ['LT', due, owner], deadline);
      }
    }
    const [ok, version] = await this.run<[number, number]>(
      S.set,
      keys,
      [Buffer.from(data.buffer, data.byteOffset, data.byteLength), ttl, abs, ifVersion, owner, id],
      deadline,
    );
    if (ok === 1) return { version };
    throw this.source.error('CONFLICT', `session version is ${version}, not ${ifVersion}`, { details: { currentVersion: version } });
  }

  async touch(id: string, ttlMs: number, opts?: CallOptions): Promise<boolean> {
    validateKey(this.source, 'id', id);
    const ttl = validateDuration(this.source, 'ttlMs', ttlMs);
    return (await this.run<number>(S.touch, [this.key(id)], [ttl], deadlineOf(this.source, opts, CALLS.touch))) === 1;
  }

  async destroy(id: string, opts?: CallOptions): Promise<boolean> {
    validateKey(this.source, 'id', id);
    return (await this.run<number>(S.destroy, this.destroyKeys(id), [''], deadlineOf(this.source, opts, CALLS.destroy))) === 1;
  }

  async rotate(oldId: string, newId: string, opts?: { ttlMs?: number } & CallOptions): Promise<boolean> {
    const ttl = validateRotateArgs(this.source, oldId, newId, opts) ?? '';
    const deadline = deadlineOf(this.source, opts, CALLS.rotate);
    if (!this.isCluster) {
      const keys = [this.key(oldId), this.key(newId), this.dueKey];
      const moved = await this.run<number>(S.rotate, keys, [ttl, newId, `${this.prefix}o:{`, oldId], deadline);
      if (moved === -1) throw this.source.error('CONFLICT', 'a live session already has the new id');
      return moved === 1;
    }
    // The take marks the old id with this token (and the owner): giving the session back needs
    // the mark, which a destroy of the old id (or of its owner's sessions) deletes meanwhile.
    const token = randomBytes(8).toString('hex');
    /** Gives the session back under the old id, within the store's own limit. */
    const mark = (fields: Fields) => `${token}${fields[4].toString()}`;
    const giveBack = (fields: Fields) => {
      const [data, version, exp, abs, owner] = fields;
      const args = [data, version, exp, abs, owner, '', mark(fields)];
      return this.run<number>(S.put, [this.key(oldId), this.rotationMark(oldId)], args, undefined);
    };
    // A take whose answer comes after the caller was told TIMEOUT did run: the session is given
    // back as that answer comes in, so the failed rotate leaves it where it was. An answer
    // that never comes (the connection lost) or comes after the mark's life loses it.
    const lateTake = (late: Fields | null) => {
      if (late === null) return;
      giveBack(late).catch((err: unknown) => this.report(err, 'rotate (giving back a session taken late)'));
    };
    const markArgs = [token, Math.max(ROTATION_MARK_MS, 5 * this.timeoutMs)];
    const taken = await this.run<Fields | null>(S.take, [this.key(oldId), this.rotationMark(oldId)], markArgs, deadline, true, lateTake);
    if (taken === null) return false;
    const [, , exp, , owner] = taken;
    // Giving the session back is the undo of `take`: it runs within the store's own limit,
    // even past the caller's deadline, so that a failed rotate leaves the session where it was.
    let putSent = false;
    let written: boolean;
    try {
      if (owner.length > 0) {
        await this.command('SADD', this.ownerKey(owner.toString()), [newId], deadline);
        // The old id's entry is stale: due when the session would have expired at the latest.
        const due = Math.min(Number(exp.toString()), ttl === '' ? Number.POSITIVE_INFINITY : this.dueAfter(ttl));
        await this.command('ZADD', this.dueKey, ['LT', due, owner.toString()], deadline);
      }
      putSent = true;
      const [data, version, , abs] = taken;
      written = (await this.run<number>(S.put, [this.key(newId)], [data, version, exp, abs, owner, ttl], deadline)) === 1;
    } catch (err) {
      // Not given back when the write under the new id may have run (its answer did not come):
      // a lost session is safer than a rotated-away id that still works.
      if (!putSent || didNotRun(err)) await giveBack(taken);
      throw err;
    }
    if (!written) {
      await giveBack(taken); // the new id is taken
      throw this.source.error('CONFLICT', 'a live session already has the new id');
    }
    // A sign-out of the old id since the take deleted the mark: it ends the moved session too.
    if ((await this.run<number>(S.unmark, [this.rotationMark(oldId)], [mark(taken)], undefined)) === 1) return true;
    await this.run<number>(S.destroy, this.destroyKeys(newId), [''], undefined);
    return false;
  }

  async destroyByOwner(owner: string, opts?: { except?: string } & CallOptions): Promise<number> {
    const except = validateDestroyByOwnerArgs(this.source, owner, opts) ?? '';
    const deadline = deadlineOf(this.source, opts, CALLS.destroyByOwner);
    if (!this.isCluster) {
      return this.run<number>(S.destroyOwner, [this.ownerKey(owner), this.dueKey], [owner, except, `${this.prefix}s:{`], deadline);
    }
    const ids = await this.command<string[]>('SMEMBERS', this.ownerKey(owner), [], deadline);
    let count = 0;
    const gone: string[] = [];
    await Promise.all(
      ids.map(async (id) => {
        if (id === except) return;
        if ((await this.run<number>(S.destroy, this.destroyKeys(id), [owner], deadline)) === 1) count++;
        gone.push(id);
      }),
    );
    if (gone.length > 0) await this.command('SREM', this.ownerKey(owner), gone, deadline);
    return count;
  }

  /**
   * Removes owner-index entries of sessions that are gone; returns how many. Looks only at the
   * owners due (see the class's comment), a batch at a time.
   */
  override async prune(): Promise<number> {
    await super.prune();
    let removed = 0;
    for (;;) {
      if (!this.isCluster) {
        const args = [PRUNE_OWNERS, `${this.prefix}s:{`, `${this.prefix}o:{`];
        const [n, owners] = await this.run<[number, number]>(S.prune, [this.dueKey], args, undefined);
        removed += n;
        if (owners < PRUNE_OWNERS) return removed;
        continue;
      }
      const [now, ...owners] = await this.run<string[]>(S.due, [this.dueKey], [PRUNE_OWNERS], undefined);
      for (const owner of owners) removed += await this.pruneOwner(owner, Number(now));
      if (owners.length < PRUNE_OWNERS) return removed;
    }
  }

  /**
   * Redis Cluster: drops the stale entries of one owner's index, then scores the owner again
   * (or, its index empty, removes it, and adds it back due `now` if a `set` indexed a session
   * meanwhile: `set` indexes before it scores, so no owner is lost). Returns the entries removed.
   */
  private async pruneOwner(owner: string, now: number): Promise<number> {
    const key = this.ownerKey(owner);
    const ids = await this.command<string[]>('SMEMBERS', key, [], undefined);
    const stale: string[] = [];
    let due = Number.POSITIVE_INFINITY;
    for (const id of ids) {
      const v = await this.run<Fields | null>(S.get, [this.key(id)], [], undefined, true);
      if (v === null || v[4].toString() !== owner) stale.push(id);
      else due = Math.min(due, Number(v[2].toString()));
    }
    const removed = stale.length > 0 ? await this.command<number>('SREM', key, stale, undefined) : 0;
    if (due !== Number.POSITIVE_INFINITY) {
      await this.command('ZADD', this.dueKey, [due, owner], undefined);
      return removed;
    }
    await this.command('ZREM', this.dueKey, [owner], undefined);
    if ((await this.command<number>('SCARD', key, [], undefined)) > 0) {
      await this.command('ZADD', this.dueKey, ['LT', now, owner], undefined);
    }
    return removed;
  }
}

/** A session from its fields (the script answers '' for a missing field, HMGET null). */
function record(source: ErrorSource, v: Fields | MaybeFields): SessionRecord {
  const [data, version, exp, abs, owner] = v;
  const r: SessionRecord = { data: data!, version: integerOf(version), expiresAt: integerOf(exp) };
  if (abs !== null && abs.length > 0) r.absoluteExpiresAt = integerOf(abs);
  // Anything but what `set` writes (a hash written by something else under our prefix) is CORRUPT.
  if (data === null || Number.isNaN(r.version) || Number.isNaN(r.expiresAt) || Number.isNaN(r.absoluteExpiresAt)) {
    throw source.error('CORRUPT', 'a session record is not as this store writes it (a hash with data, version and exp)');
  }
  if (owner !== null && owner.length > 0) r.owner = owner.toString();
  return r;
}

const DIGITS = /^\d{1,16}$/;

/** A field `set` writes as a decimal integer; NaN for anything else. */
function integerOf(b: Buffer | null): number {
  if (b === null) return Number.NaN;
  const text = b.toString();
  return DIGITS.test(text) ? Number(text) : Number.NaN;
}
