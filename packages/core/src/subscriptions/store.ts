import { STORE_CALLS, type StoreCall } from '../call-options.js';
import type { CallOptions, Clock } from '../contracts/common.js';
import type {
  AckResult,
  Claim,
  Refused,
  SigningKeyRecord,
  Subscription,
  SubscriptionAck,
  SubscriptionDefinition,
  SubscriptionStore,
  WakeNotice,
  WakeProof,
} from '../contracts/subscription.js';
import { deadlineOf } from '../deadline.js';
import { ErrorSource } from '../errors.js';
import { isOffset, compareUtf8 } from '../streams/offsets.js';
import { readClock, validateInteger, validateOptions, validateString } from '../validate.js';
import { Documents } from './documents.js';
import { finishWake, startNotice } from './wake-notice.js';
import { partialFailure } from './partial-failure.js';
import { type SubscriptionStoreOptions, storeSettings } from './options.js';
import { matchesPattern } from './glob.js';
import { type Indexed, Membership } from './membership.js';
import {
  ackSnapshot,
  anyPending,
  BEFORE_FIRST,
  checkProof,
  endWake,
  issueToken,
  link,
  newDocument,
  retryDelay,
  type SubscriptionDocument,
  sameDefinition,
  startWake,
  toLink,
  toSubscription,
  toWake,
  type WakeTiming,
} from './state.js';
import {
  validateAcks,
  validateDefinition,
  validateSigningKeys,
  validateId,
  validateProof,
  validateStreamList,
  validateStreamPath,
} from './validate.js';

const CALLS = STORE_CALLS.subscription;

const KEYS = 'signing-keys';
const subKey = (id: string) => `sub:${id}`;
const source = new ErrorSource('@stowage/core', 'SubscriptionStore');

export type { SubscriptionStoreOptions };

/** Opens a {@link SubscriptionStore} over a SessionStore of any backend. */
export function createSubscriptionStore(options: SubscriptionStoreOptions): SubscriptionStore {
  return new DocumentSubscriptionStore(options);
}

class DocumentSubscriptionStore implements SubscriptionStore {
  readonly #docs: Documents;
  readonly #members: Membership;
  readonly #clock: Clock;
  readonly #timing: WakeTiming;
  #closed = false;

  constructor(options: SubscriptionStoreOptions) {
    const settings = storeSettings(source, options);
    this.#docs = new Documents(settings.sessions, settings.keyPrefix, source);
    this.#members = new Membership(this.#docs);
    this.#clock = settings.clock;
    this.#timing = settings.timing;
  }

  async close(): Promise<void> {
    this.#closed = true;
  }

  /** Arguments first, then the store, then the deadline (the shared order of checks). */
  #open(opts: unknown, call: StoreCall): CallOptions {
    const deadline = deadlineOf(source, opts, call);
    if (this.#closed) throw source.error('UNAVAILABLE', 'the store is closed');
    return deadline === undefined ? {} : { deadline };
  }

  #now(): number {
    return readClock(source, this.#clock);
  }

  async put(id: string, definition: SubscriptionDefinition, opts?: CallOptions) {
    validateId(source, 'id', id);
    const def = validateDefinition(source, definition);
    const call = this.#open(opts, CALLS.put);
    // The index first: an entry without a document is skipped; a document without an entry would never wake.
    const entered = await this.#members.enter(id, def.pattern, def.streams, call);
    const now = this.#now();
    type Put = { status: 'created' | 'exists' | 'conflict'; subscription: Subscription };
    let result: Put;
    try {
      result = await this.#docs.update<SubscriptionDocument, Put>(subKey(id), call, (doc) => {
        if (doc === undefined) {
          const created = newDocument(id, def, now);
          return { write: created, result: { status: 'created', subscription: toSubscription(created) } };
        }
        return { result: { status: sameDefinition(doc.definition, def) ? 'exists' : 'conflict', subscription: toSubscription(doc) } };
      });
    } catch (err) {
      // Refused (too large) or failed: the entry this call made must not stay without its
      // document, filling the index with subscriptions nobody can see.
      if (entered) await this.#members.forgetFailedPut(id, def.pattern, def.streams, () => this.#indexed(id, call), call);
      throw err;
    }
    // Again after the document: a delete of the same id between the two steps removed the
    // entry, or (created here) a concurrent PUT of the id entered its own definition first; a
    // document whose entry is missing or another's would never wake.
    const { pattern, streams } = result.subscription;
    if (result.status !== 'created') await this.#members.enter(id, pattern, streams, call);
    else {
      try {
        await this.#members.adopt(id, pattern, streams, call);
      } catch (err) {
        // Not entered (the index is full): a document nothing wakes must not stay, answered as failed.
        await this.#docs
          .update<SubscriptionDocument, void>(subKey(id), call, (doc) => ({
            write: doc !== undefined && sameDefinition(doc.definition, def) ? null : undefined,
            result: undefined,
          }))
          .catch(() => {});
        throw err;
      }
    }
    return result as { status: 'created' | 'exists'; subscription: Subscription } | { status: 'conflict'; subscription: Subscription };
  }

  async get(id: string, opts?: CallOptions): Promise<Subscription | undefined> {
    validateId(source, 'id', id);
    const found = await this.#docs.read<SubscriptionDocument>(subKey(id), this.#open(opts, CALLS.get));
    return found === undefined ? undefined : toSubscription(found.value);
  }

  async delete(id: string, opts?: CallOptions): Promise<boolean> {
    validateId(source, 'id', id);
    const call = this.#open(opts, CALLS.delete);
    // The document first: from then on every call answers SUBSCRIPTION_NOT_FOUND.
    const deleted = await this.#docs.remove(subKey(id), call);
    await this.#members.remove(id, call);
    // A PUT of the id that made its document after the removal may have entered it before ours.
    const again = await this.#indexed(id, call);
    if (again !== undefined) await this.#members.adopt(id, again.pattern, again.streams, call);
    return deleted;
  }

  /** What the index must say of `id`: its document's pattern and streams, if it exists. */
  async #indexed(id: string, call: CallOptions): Promise<Indexed | undefined> {
    const doc = await this.#docs.read<SubscriptionDocument>(subKey(id), call);
    return doc === undefined ? undefined : { pattern: doc.value.definition.pattern, streams: doc.value.explicit };
  }

  async addStreams(id: string, streams: readonly string[], opts?: CallOptions): Promise<boolean> {
    validateId(source, 'id', id);
    const paths = validateStreamList(source, 'streams', streams);
    const call = this.#open(opts, CALLS.addStreams);
    // The index first (a no-op for a missing subscription), as on create: a link the index
    // lacked would never see an append.
    await this.#members.addStreams(id, paths, call);
    return this.#docs.update<SubscriptionDocument, boolean>(subKey(id), call, (doc) => {
      if (doc === undefined) return { result: false };
      // Links and membership only: the definition stays as created, so a PUT of it still confirms.
      for (const path of paths) link(doc, path, 'explicit');
      doc.explicit = [...new Set([...doc.explicit, ...paths])];
      return { write: doc, result: true };
    });
  }

  async removeStream(id: string, stream: string, opts?: CallOptions): Promise<boolean> {
    validateId(source, 'id', id);
    const path = validateStreamPath(source, 'stream', stream);
    const call = this.#open(opts, CALLS.removeStream);
    const exists = await this.#docs.update<SubscriptionDocument, boolean>(subKey(id), call, (doc) => {
      if (doc === undefined) return { result: false };
      const l = doc.links[path];
      if (l !== undefined) {
        l.explicit = false;
        if (!l.glob) delete doc.links[path];
      }
      doc.explicit = doc.explicit.filter((s) => s !== path);
      return { write: doc, result: true };
    });
    if (exists) await this.#members.removeStream(id, path, call);
    return exists;
  }

  async noteAppend(stream: string, tailOffset: string, opts?: CallOptions): Promise<WakeNotice[]> {
    const path = validateStreamPath(source, 'stream', stream);
    if (!isOffset(tailOffset)) throw source.invalid('tailOffset must be a stream offset', { field: 'tailOffset' });
    const call = this.#open(opts, CALLS.noteAppend);
    const members = await this.#members.membersOf(path, call);
    const settled = await Promise.allSettled(
      members.map(({ id }) =>
        this.#docs.update<SubscriptionDocument, WakeNotice | undefined>(subKey(id), call, (doc) => {
          if (doc === undefined) return { result: undefined };
          // The document decides membership: the index read before may be stale (a stream
          // removed meanwhile must not come back as an explicit link).
          const glob = doc.definition.pattern !== undefined && matchesPattern(doc.definition.pattern, path);
          const explicit = doc.explicit.includes(path);
          if (!glob && !explicit) return { result: undefined };
          const l = link(doc, path, explicit ? 'explicit' : 'glob');
          if (glob) l.glob = true;
          // Replicas report out of order: a tail only moves forward.
          if (compareUtf8(tailOffset, l.tail) <= 0 && doc.wake !== undefined) return { result: undefined };
          if (compareUtf8(tailOffset, l.tail) > 0) l.tail = tailOffset;
          const notice = doc.wake === undefined && anyPending(doc) ? startNotice(doc, this.#now(), this.#timing, path) : undefined;
          return { write: doc, result: notice };
        }),
      ),
    );
    const started = settled.flatMap((r) => (r.status === 'fulfilled' && r.value !== undefined ? [r.value] : []));
    const failed = settled.flatMap((r, i) => (r.status === 'rejected' ? [{ id: members[i]!.id, err: r.reason as unknown }] : []));
    if (failed.length > 0)
      throw partialFailure(source, `noteAppend(${JSON.stringify(path.slice(0, 128))})`, members.length, failed, started);
    return started;
  }

  async noteDelete(stream: string, opts?: CallOptions): Promise<void> {
    const path = validateStreamPath(source, 'stream', stream);
    const call = this.#open(opts, CALLS.noteDelete);
    const members = await this.#members.membersOf(path, call);
    await Promise.all(
      members.map(({ id }) =>
        this.#docs.update<SubscriptionDocument, void>(subKey(id), call, (doc) => {
          if (doc?.links[path] === undefined) return { result: undefined };
          delete doc.links[path];
          return { write: doc, result: undefined };
        }),
      ),
    );
  }

  async claim(id: string, worker: string, opts?: CallOptions): Promise<Claim | Refused> {
    validateId(source, 'id', id);
    validateId(source, 'worker', worker);
    const call = this.#open(opts, CALLS.claim);
    const now = this.#now();
    return this.#docs.update<SubscriptionDocument, Claim | Refused>(subKey(id), call, (doc) => {
      if (doc === undefined) return { result: { refused: 'SUBSCRIPTION_NOT_FOUND' } };
      if (doc.definition.type !== 'pull-wake') return { result: { refused: 'INVALID_REQUEST' } };
      if (doc.wake?.holder !== undefined && doc.wake.leaseExpiresAt <= now) endWake(doc);
      if (doc.wake?.holder !== undefined) {
        return { result: { refused: 'ALREADY_CLAIMED', holder: doc.wake.holder, generation: doc.wake.generation } };
      }
      if (doc.wake === undefined) {
        if (!anyPending(doc)) return { result: { refused: 'NO_PENDING_WORK' } };
        startWake(doc, now, this.#timing);
      }
      const wake = doc.wake!;
      wake.holder = worker;
      wake.leaseExpiresAt = now + doc.definition.leaseTtlMs;
      const token = issueToken(wake);
      const links = Object.entries(doc.links).map(([path, l]) => toLink(path, l));
      return { write: doc, result: { wake: toWake(wake), token, links, leaseTtlMs: doc.definition.leaseTtlMs } };
    });
  }

  async ack(
    id: string,
    proof: WakeProof,
    acks: readonly SubscriptionAck[],
    done: boolean,
    opts?: CallOptions,
  ): Promise<AckResult | Refused> {
    validateId(source, 'id', id);
    const p = validateProof(source, proof);
    const list = validateAcks(source, acks);
    if (typeof done !== 'boolean') throw source.invalid('done must be a boolean', { field: 'done' });
    const call = this.#open(opts, CALLS.ack);
    const now = this.#now();
    return this.#docs.update<SubscriptionDocument, AckResult | Refused>(subKey(id), call, (doc) => {
      const refused = checkProof(doc, p, now);
      if (refused !== undefined) return { result: refused };
      const d = doc!;
      for (const ack of list) {
        const l = d.links[ack.stream];
        const bad =
          l === undefined ||
          ack.offset === BEFORE_FIRST ||
          !isOffset(ack.offset) ||
          compareUtf8(ack.offset, l.acked) < 0 ||
          compareUtf8(ack.offset, l.tail) > 0;
        if (bad) return { result: { refused: 'INVALID_OFFSET' } };
      }
      for (const ack of list) d.links[ack.stream]!.acked = ack.offset;
      d.wake!.leaseExpiresAt = now + d.definition.leaseTtlMs;
      return { write: d, result: done ? finishWake(d, this.#now(), this.#timing) : { ok: true } };
    });
  }

  async release(id: string, proof: WakeProof, opts?: CallOptions): Promise<AckResult | Refused> {
    validateId(source, 'id', id);
    const p = validateProof(source, proof);
    const call = this.#open(opts, CALLS.release);
    const now = this.#now();
    return this.#docs.update<SubscriptionDocument, AckResult | Refused>(subKey(id), call, (doc) => {
      const refused = checkProof(doc, p, now);
      if (refused !== undefined) return { result: refused };
      return { write: doc!, result: finishWake(doc!, this.#now(), this.#timing) };
    });
  }

  async reportDelivery(id: string, wakeId: string, outcome: 'done' | 'accepted' | 'failed', opts?: CallOptions): Promise<AckResult> {
    validateId(source, 'id', id);
    validateString(source, 'wakeId', wakeId, 256, 1);
    if (outcome !== 'done' && outcome !== 'accepted' && outcome !== 'failed') {
      throw source.invalid(`outcome must be 'done', 'accepted' or 'failed'`, { field: 'outcome' });
    }
    const call = this.#open(opts, CALLS.reportDelivery);
    const now = this.#now();
    return this.#docs.update<SubscriptionDocument, AckResult>(subKey(id), call, (doc) => {
      if (doc?.wake === undefined || doc.wake.id !== wakeId) return { result: { ok: true } };
      if (outcome === 'done') {
        doc.status = 'active';
        ackSnapshot(doc);
        return { write: doc, result: finishWake(doc, this.#now(), this.#timing) };
      }
      if (outcome === 'accepted') {
        doc.status = 'active';
        delete doc.delivery;
        doc.wake.leaseExpiresAt = now + doc.definition.leaseTtlMs;
        return { write: doc, result: { ok: true } };
      }
      doc.status = 'failed';
      const attempts = (doc.delivery?.attempts ?? 0) + 1;
      if (attempts >= this.#timing.maxDeliveryAttempts) endWake(doc);
      else doc.delivery = { attempts, nextAttemptAt: now + retryDelay(attempts, this.#timing) };
      return { write: doc, result: { ok: true } };
    });
  }

  async takeDue(opts: { limit: number } & CallOptions): Promise<WakeNotice[]> {
    const o = validateOptions<{ limit: number }>(source, 'opts', opts);
    const limit = validateInteger(source, 'opts.limit', o.limit, 1, 10_000);
    const call = this.#open(opts, CALLS.takeDue);
    const notices: WakeNotice[] = [];
    const failed: { id: string; err: unknown }[] = [];
    const ids = await this.#members.ids(call);
    for (const id of ids) {
      if (notices.length >= limit) break;
      const now = this.#now();
      // One subscription that cannot be updated must not hold back the others (see noteAppend).
      const notice = await this.#docs
        .update<SubscriptionDocument, WakeNotice | undefined>(subKey(id), call, (doc) => {
          const wake = doc?.wake;
          if (doc === undefined || wake === undefined) return { result: undefined };
          if (doc.delivery !== undefined) {
            if (doc.delivery.nextAttemptAt > now) return { result: undefined };
            // A retry (or an attempt whose taker never reported): this caller's for the delivery timeout.
            doc.delivery.nextAttemptAt = now + this.#timing.deliveryTimeoutMs;
            if (wake.tokenDigest !== undefined) doc.endedTokenDigest = wake.tokenDigest;
            const token = issueToken(wake);
            return { write: doc, result: { subscription: toSubscription(doc), wake: toWake(wake), callbackToken: token } };
          }
          // An unclaimed pull-wake wake waits for a worker; a held lease that ran out ends.
          const unclaimed = doc.definition.type === 'pull-wake' && wake.holder === undefined;
          if (unclaimed || wake.leaseExpiresAt > now) return { result: undefined };
          endWake(doc);
          return { write: doc, result: anyPending(doc) ? startNotice(doc, this.#now(), this.#timing, undefined) : undefined };
        })
        .catch((err: unknown) => void failed.push({ id, err }));
      if (notice !== undefined) notices.push(notice);
    }
    if (failed.length > 0) throw partialFailure(source, 'takeDue', ids.length, failed, notices);
    return notices;
  }

  async signingKeys(opts?: CallOptions): Promise<{ keys: SigningKeyRecord[]; version: number }> {
    const found = await this.#docs.read<{ keys: SigningKeyRecord[] }>(KEYS, this.#open(opts, CALLS.signingKeys));
    return found === undefined ? { keys: [], version: 0 } : { keys: found.value.keys, version: found.version };
  }

  async putSigningKeys(keys: readonly SigningKeyRecord[], ifVersion: number, opts?: CallOptions): Promise<boolean> {
    const copy = validateSigningKeys(source, keys);
    validateInteger(source, 'ifVersion', ifVersion, 0);
    return this.#docs.write(KEYS, { keys: copy }, ifVersion, this.#open(opts, CALLS.putSigningKeys));
  }
}
