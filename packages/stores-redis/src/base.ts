import { createHash } from 'node:crypto';
import type { StowageError, BackgroundErrorHandler, HealthOptions, HealthResult, Healthy, StoreOptionsBase } from '@stowage/core';
import {
  backgroundReporter,
  type BackgroundReport,
  budgetTimeout,
  callBudget,
  ErrorSource,
  instrumentStore,
  measureHealth,
  readClock,
  storeHealth,
  type StoreContract,
  type StoreTelemetry,
  validateBoolean,
  validateClock,
  validateInteger,
  validateTimerMs,
  validateOptionNames,
  validateOptions,
  validateString,
  type CallBudget,
  ClockSampleTimeout,
  type ServerClock,
  steadyNow,
} from '@stowage/core/adapter-kit';
import { type Handover, SendTimePassed } from './clients/write-batches.js';
import { arg, type Connection, connectionOf, type RedisClient, type Word } from './connection.js';
import { lateAt, mapError, notSent, unsent } from './errors.js';
import { type Reachability, reachabilityOf } from './reachability.js';
import { LUA, type LuaFile } from './scripts/lua.generated.js';
import { serverClockOf } from './server-clock.js';
import { answerWithin } from './settle.js';

export type { IoredisClient, NodeRedisClient, RedisClient } from './connection.js';
export { didNotRun, mapError } from './errors.js';

export interface RedisStoreOptions extends StoreOptionsBase {
  /**
   * The connection to Redis, Valkey or a Redis Cluster: an ioredis `Redis` or `Cluster`, or a
   * node-redis client (`createClient()`) or cluster (`createCluster()`) of the `redis` package
   * (v5), which you connect first (`await client.connect()`). Told apart by its shape; both
   * run the same scripts with the same behaviour. Stores may share one client; the store
   * never quits it (the stream store's subscriber, a duplicate of it, is the store's own).
   */
  client: RedisClient;
  /**
   * Prefix of every key: up to 256 characters, without `{` or `}` (the record's id is its keys'
   * hash tag, so that a record's keys share a Cluster slot). @default 'stowage:'
   */
  prefix?: string;
  /**
   * No call waits longer for an answer; a caller's earlier `opts.deadline` (see core's
   * `CallOptions`) shortens it. Past the earlier of the two, `UNAVAILABLE` if the client is
   * not connected, else `TIMEOUT`; at once `UNAVAILABLE`, nothing sent, while a client of one
   * server is known disconnected (a connect attempt failed since it was last ready). A script
   * that reaches Redis after it (queued, or resent by ioredis after a reconnect) is refused
   * there, so a failed call changes nothing; the deadline sent is corrected by a sample of
   * Redis's clock (`TIME`, every master on a Cluster) taken before the client's first script
   * and refreshed once a minute after. At most `MAX_TIMER_MS` (2^31 - 1, the longest delay a
   * Node timer takes), else `INVALID_ARGUMENT`.
   * @default 2000
   */
  timeoutMs?: number;
  /**
   * With a custom `clock`, native expiry (`PEXPIRE`) keeps records this much longer than their
   * expiry on that clock; they are hidden by their stored expiry meanwhile. With the server's
   * clock (`TIME`, the default) there is no grace. @default 60000
   */
  expiryGraceMs?: number;
  /**
   * Send the commands issued together in socket writes of a few dozen. ioredis: the commands
   * issued in one tick leave in writes of at most 16 (see `coalesce.ts`); `false` writes each
   * command at once, as ioredis does by itself. node-redis writes everything issued in one
   * event-loop iteration together by itself; the store hands it at most 32 commands per
   * iteration (`clients/write-batches.ts`), so that Redis starts on a batch while Node handles
   * the replies of the one before; `false` hands each over at once. On ioredis this corks the
   * socket ioredis keeps as `stream`, which ioredis does not document: so the peer range is
   * pinned to the ioredis version it was tested on (6.0.0, the only 6.0 release), and
   * `test/coalesce-pin.test.ts` fails on any other and counts the writes. It measured 4 % to
   * 80 % faster than ioredis's own `enableAutoPipelining` at 64 in flight
   * (`npm run bench -- --only redis-coalesce`). @default true
   */
  coalesceWrites?: boolean;
  /**
   * Receives each failure of work no caller awaits: the stream store's pub/sub subscriber
   * (operation `subscribe`); see {@link BackgroundErrorHandler}.
   * @default one `console.error` line with the store, the operation, the error's code and message
   */
  onError?: BackgroundErrorHandler;
}

export const PACKAGE = '@stowage/stores-redis';

/** Every script made so far, for the test that loads each on a server. */
const made: Script[] = [];

/**
 * Each option of {@link RedisStoreOptions}, once: the store refuses a name outside them and the options of
 * its own kind (a subclass's `ownOptions`).
 */
const OPTION_NAMES: Readonly<Record<keyof RedisStoreOptions, true>> = {
  clock: true,
  telemetry: true,
  client: true,
  prefix: true,
  timeoutMs: true,
  expiryGraceMs: true,
  coalesceWrites: true,
  onError: true,
};

/**
 * A Lua script of `scripts/` (embedded at build time: nothing is read from disk), registered on
 * a client under a content-hashed name: `lib.lua`, then the script's files in order (one file,
 * or the parts of a long script: Lua in EVAL has no imports, so one body holds them all).
 */
export class Script {
  readonly lua: string;
  readonly name: string;
  /** SHA-1 of `lua`, for `EVALSHA`. */
  readonly sha: string;
  constructor(file: LuaFile);
  constructor(name: string, parts: readonly LuaFile[]);
  constructor(name: string, parts: readonly LuaFile[] = [name as LuaFile]) {
    this.lua = [LUA.lib, ...parts.map((part) => LUA[part])].join('\n');
    this.sha = createHash('sha1').update(this.lua).digest('hex');
    this.name = `stowage_${name}_${this.sha.slice(0, 12)}`;
    made.push(this);
  }
}

/** The scripts of the stores imported so far (not exported by the package). */
export const scriptsMade = (): readonly Script[] => made;

/** A call's work: sends its command within `budget`, through `handover` when it is batched (node-redis). */
type Work<T> = (budget: CallBudget, handover: Handover | undefined) => Promise<T>;

/**
 * What every Redis store shares: options, the client's {@link Connection} (scripts by EVALSHA,
 * falling back to EVAL when the server lost them, on either driver), the time limit, error
 * mapping and `close()`. Keys: `<prefix><kind>:{<key>}...`, so every key of one record shares a hash tag.
 */
export abstract class RedisStoreBase implements Healthy {
  protected readonly source: ErrorSource;
  protected readonly connection: Connection;
  protected readonly prefix: string;
  protected readonly timeoutMs: number;
  protected readonly isCluster: boolean;
  private readonly clock: (() => number) | undefined;
  /** Time comes from the server (`TIME`) and native expiry is exact, so a plain read is current. */
  protected readonly serverClock: boolean;
  private readonly grace: string;
  private readonly coalesce: boolean;
  /** node-redis with `coalesceWrites`: each call's command goes through the client's write batches. */
  private readonly batched: boolean;
  protected closed = false;
  private readonly telemetry: StoreTelemetry;
  /** Reports a failure of background work to `options.onError`. */
  protected readonly report: BackgroundReport;
  /** Whether the client is known to be disconnected (a connect attempt failed since it was last ready). */
  protected readonly reachability: Reachability;

  constructor(storeName: string, options: RedisStoreOptions, ownOptions: Readonly<Record<string, boolean>> = {}) {
    this.source = new ErrorSource(PACKAGE, storeName);
    const o = validateOptions<RedisStoreOptions>(this.source, 'options', options);
    validateOptionNames(this.source, 'options', o, { ...OPTION_NAMES, ...ownOptions });
    const client = o.client as unknown;
    this.connection = connectionOf(this.source, client);
    this.isCluster = this.connection.isCluster;
    this.prefix = validateString(this.source, 'options.prefix', o.prefix ?? 'stowage:', 256);
    if (/[{}]/.test(this.prefix)) {
      throw this.source.invalid('options.prefix cannot hold { or }: the id in braces is the hash tag of every key', {
        field: 'options.prefix',
      });
    }
    const telemetry = validateBoolean(this.source, 'options.telemetry', o.telemetry, true);
    this.telemetry = { system: 'redis', namespace: this.prefix, enabled: telemetry };
    this.timeoutMs = o.timeoutMs === undefined ? 2000 : validateTimerMs(this.source, 'options.timeoutMs', o.timeoutMs);
    this.clock = validateClock(this.source, o.clock);
    this.serverClock = this.clock === undefined;
    const grace = o.expiryGraceMs === undefined ? 60_000 : validateInteger(this.source, 'options.expiryGraceMs', o.expiryGraceMs, 0);
    this.grace = this.clock === undefined ? '0' : String(grace);
    this.coalesce = validateBoolean(this.source, 'options.coalesceWrites', o.coalesceWrites, true);
    this.batched = this.coalesce && this.connection.driver === 'node-redis';
    this.backendClock = serverClockOf(client as object, this.connection);
    this.report = backgroundReporter(this.source, 'options.onError', o.onError);
    this.reachability = reachabilityOf(client as object, this.connection);
  }

  /** Instruments the store's operations (see `instrumentStore`); the last step of each store's constructor. */
  protected instrument(contract: StoreContract): void {
    instrumentStore(this, contract, this.telemetry);
  }

  /** A lower bound of how far Redis's clock runs ahead of ours, shared by the stores of this client. */
  private readonly backendClock: ServerClock;

  /** The time, grace and deadline arguments every script starts with (see `lib.lua`), then `args`, as sent. */
  private scriptArgs(budget: CallBudget, args: readonly unknown[]): Word[] {
    const now = this.clock === undefined ? '' : String(readClock(this.source, this.clock));
    const words: Word[] = [now, this.grace, String(this.backendClock.toServer(budget))];
    for (const a of args) words.push(arg(a));
    return words;
  }

  /**
   * Runs `keys`, `args` through `s` within the call's budget (the caller's `deadline`, if
   * earlier than the time limit); errors mapped. The script refuses to run once the budget
   * has passed, so a call we reported failed never takes effect later (ioredis resends
   * queued and unanswered commands when it reconnects).
   */
  protected run<T>(
    s: Script,
    keys: string[],
    args: unknown[],
    deadline: number | undefined,
    buffers = false,
    lateAnswer?: (value: T) => void,
  ): Promise<T> {
    const c = this.connection;
    return this.timed(
      (budget, handover) => c.script(s, keys, this.scriptArgs(budget, args), buffers, handover) as Promise<T>,
      deadline,
      true,
      lateAnswer,
    );
  }

  /** A plain command whose first argument is its key (`HMGET`, `SADD`, ...), within the call's budget. */
  protected command<T>(name: string, key: string, args: readonly unknown[], deadline: number | undefined, buffers = false): Promise<T> {
    return this.timed((_, handover) => this.connection.command(name, key, args, buffers, handover) as Promise<T>, deadline);
  }

  /**
   * Runs `work` within one budget, the earlier of the caller's `deadline` and the time limit
   * (one timer, `answerWithin`). A deadline already passed
   * rejects with `TIMEOUT` and sends nothing. With `sendsDeadline` (a script), the client's
   * first such call waits for the clock sample first (within the budget), and a script
   * refused as late while the budget still runs means Redis's clock is ahead of ours: the
   * offset is learnt and `work` tried once more. `lateAnswer` gets an answer that comes after
   * the call timed out: what ran, that the caller was told failed, for it to undo.
   */
  protected timed<T>(work: Work<T>, deadline: number | undefined, sendsDeadline = false, lateAnswer?: (value: T) => void): Promise<T> {
    if (this.closed) return Promise.reject(this.source.error('UNAVAILABLE', 'the store is closed'));
    const now = Date.now();
    let budget: CallBudget;
    try {
      budget = callBudget(this.source, this.timeoutMs, deadline, now);
    } catch (err) {
      unsent.add(err as Error);
      return Promise.reject(err as Error);
    }
    // Known disconnected: fail now and send nothing, rather than wait in the client's offline queue.
    if (this.reachability.down()) return Promise.reject(notSent(this.knownDown()));
    // Once sampled, this comparison is all the clock costs a call.
    if (sendsDeadline && this.backendClock.isDue()) work = this.afterSample(work);
    // node-redis write batches: whether the command has been handed to the client yet.
    const handover: Handover | undefined = this.batched ? { sendBy: budget.deadline, handed: false, cancelled: false } : undefined;
    let pending: Promise<T>;
    try {
      pending = work(budget, handover);
    } catch (err) {
      return Promise.reject(mapError(this.source, err, this.connection));
    }
    // After the write: a lone call leaves at once, the calls after it in this tick are batched (ioredis).
    if (this.coalesce) this.connection.afterWrite();
    const retry = sendsDeadline ? (err: unknown) => this.retryIfLate(err, budget, work, handover) : undefined;
    return answerWithin(pending, budget.ms, () => this.unanswered(budget, handover), retry, this.mapError, lateAnswer);
  }

  /** An error of this store's calls as they reject: see {@link mapError}. */
  private readonly mapError = (err: unknown): StowageError => mapError(this.source, err, this.connection);

  /** The rejection of a call made while the client is known disconnected: see {@link knownDownError}. */
  private knownDown(): StowageError {
    return knownDownError(this.source, this.reachability, this.connection);
  }

  /**
   * A script refused as late while its budget still runs: Redis's clock is ahead of ours, and
   * `work` is tried once more (once: the refusal carried the server's time). One server: its
   * offset is learnt. A Cluster: the retry carries that master's time, and the offset, the
   * least of the masters', is kept (raising it would make the deadlines sent to the others late).
   */
  private retryIfLate<T>(err: unknown, budget: CallBudget, work: Work<T>, handover: Handover | undefined): Promise<T> | undefined {
    const serverNow = steadyNow() < budget.steadyEnd ? lateAt(err) : undefined;
    if (serverNow === undefined) return undefined;
    if (this.isCluster) budget = this.backendClock.forServerAt(budget, serverNow);
    else this.backendClock.learn(serverNow);
    if (handover !== undefined) handover.handed = false;
    return work(budget, handover);
  }

  /**
   * The rejection of a call whose budget ran out unanswered: `UNAVAILABLE` when not connected,
   * else `TIMEOUT`; marked not run when its command still waited for a write batch (it is then
   * never sent).
   */
  private unanswered(budget: CallBudget, handover?: Handover): StowageError {
    const waiting = handover !== undefined && !handover.handed;
    if (waiting) handover.cancelled = true;
    const state = this.connection.state();
    if (state !== 'ready' && state !== 'connecting') {
      const err = this.source.error('UNAVAILABLE', `Redis is not connected (status ${state})`, { details: { deadline: budget.deadline } });
      return waiting ? notSent(err) : err;
    }
    if (!waiting) return budgetTimeout(this.source, 'Redis', budget);
    return notSent(this.source.error('TIMEOUT', new SendTimePassed().message, { details: { deadline: budget.deadline } }));
  }

  /**
   * `work`, or before the client's first clock sample, `work` once the sample is in: nothing
   * is sent if the budget ran out meanwhile, and a failed sample fails the call as a failed
   * script would (`UNAVAILABLE`, `TIMEOUT`), having sent nothing of it.
   */
  private afterSample<T>(work: Work<T>): Work<T> {
    const first = this.backendClock.due(this.timeoutMs);
    if (first === undefined) return work;
    return (budget, handover) =>
      first.then(
        () => {
          if (Date.now() >= budget.deadline) throw notSent(this.unanswered(budget));
          return work(budget, handover);
        },
        (err: unknown) => {
          throw notSent(err instanceof ClockSampleTimeout ? this.unanswered(budget) : mapError(this.source, err, this.connection));
        },
      );
  }

  /** Redis expires records itself; stores with an index override this to clean it. */
  async prune(): Promise<number> {
    if (this.closed) throw this.source.error('UNAVAILABLE', 'the store is closed');
    return 0;
  }

  /**
   * See `Healthy`: whether Redis would take a write now, by a write command that writes
   * nothing: `SETRANGE <prefix>health:{probe} 0 ""` (an empty value creates no key and changes
   * none, so nothing is replicated or persisted). Redis refuses or holds it as it would the
   * stores' scripts: on a read-only replica (`READONLY`), past `maxmemory` (`OOM`), and under
   * `CLIENT PAUSE ... WRITE` (held until the pause ends: the probe times out, while a `PING`
   * would still answer). On a Cluster, the node of that key answers.
   */
  health(opts?: HealthOptions): Promise<HealthResult> {
    return storeHealth(this.closed, opts, (timeoutMs) =>
      measureHealth(() => this.connection.command('SETRANGE', tagged(this.prefix, 'health', 'probe'), [0, '']), timeoutMs),
    );
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.onClose();
  }

  protected async onClose(): Promise<void> {}
}

const NOT_CONNECTED = 'Redis is not connected: its last connect attempt failed, so the call was not sent';

/** A key of one record: `<prefix><kind>:{<id>}`; the braces make `id` its hash tag. */
export const tagged = (prefix: string, kind: string, id: string): string => `${prefix}${kind}:{${id}}`;

/**
 * Whether the client's connection answers: `PING` on either driver's client; `{ ok, latencyMs, error? }`,
 * never throws. A `PING` passes a write pause and a read-only replica: a store's `health()` checks writes.
 */
export function redisHealth(client: RedisClient, timeoutMs = 2000): Promise<HealthResult> {
  return measureHealth(() => {
    const connection = connectionOf(new ErrorSource(PACKAGE, 'redisHealth'), client);
    return connection.ping();
  }, timeoutMs);
}

/** The rejection of a call made while the client is known disconnected: its last error says why, if it is one. */
export function knownDownError(source: ErrorSource, reachability: Reachability, connection: Connection): StowageError {
  const cause = reachability.cause();
  const err = cause === undefined ? undefined : mapError(source, cause, connection);
  return err?.code === 'UNAVAILABLE' ? err : source.error('UNAVAILABLE', NOT_CONNECTED, { cause });
}
