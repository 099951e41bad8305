import { createHash, createPrivateKey, generateKeyPairSync, type KeyObject, sign } from 'node:crypto';
import { type Codec, type EncryptionKey, encryptedCodec, type SigningKeyRecord, StowageError, type SubscriptionStore } from '@stowage/core';
import { source } from './protocol.js';

/** A public key as the JWKS publishes it. */
export interface PublishedJwk {
  kty: 'OKP';
  crv: 'Ed25519';
  x: string;
  kid: string;
  use: 'sig';
  alg: 'EdDSA';
}

export interface WebhookKeysOptions {
  /** The key ring that seals the private keys at rest; without it, keys are only published. */
  ring: readonly EncryptionKey[] | undefined;
  /** How long a replaced key stays published. */
  replacedKeyTtlMs: number;
  /** How long this process signs with the keys it read before reading them again. */
  cacheMs: number;
  clock?: () => number;
}

/** What `reseal()` did: the keys it re-sealed (and with which ring key they were sealed), those no ring key opens. */
export interface ResealReport {
  /** The ring key that seals from now on (the ring's first). */
  sealer: string;
  resealed: Array<{ kid: string; was: string }>;
  /** Keys the ring cannot open; `current` when it is the key deliveries are signed with. */
  unopenable: Array<{ kid: string; current: boolean; message: string }>;
}

/** Compare-and-swap rounds before giving up on a key change (other replicas keep winning). */
const MAX_ROUNDS = 16;

/**
 * The Ed25519 keys that sign webhook deliveries, shared by every replica through the
 * subscription store. The private key is stored sealed (AES-256-GCM with the caller's key
 * ring, bound to the key id), never in clear. The first replica that needs a key makes one
 * and stores it with compare-and-swap; a replica that loses the race reads the winner's, so
 * the cluster signs with ONE key. Rotation adds a newer key and keeps the replaced ones
 * published for `replacedKeyTtlMs`, so deliveries signed before still verify.
 */
export class WebhookKeys {
  readonly #store: SubscriptionStore;
  readonly #codec: Codec<string> | undefined;
  readonly #o: WebhookKeysOptions;
  readonly #clock: () => number;
  #cache: { keys: SigningKeyRecord[]; version: number; readAt: number } | undefined;
  readonly #privateKeys = new Map<string, KeyObject>();
  #creating: Promise<SigningKeyRecord> | undefined;

  constructor(store: SubscriptionStore, options: WebhookKeysOptions) {
    this.#store = store;
    this.#o = options;
    this.#clock = options.clock ?? Date.now;
    this.#codec = options.ring === undefined ? undefined : encryptedCodec<string>({ keys: options.ring });
  }

  /** The key deliveries are signed with now (made on first use), and its private key. */
  async signer(): Promise<{ kid: string; key: KeyObject }> {
    const record = await this.#current(true);
    return { kid: record!.kid, key: this.#privateKey(record!) };
  }

  /** The id of the key deliveries are signed with; made on first use when this server has a key ring. */
  async currentKid(): Promise<string | undefined> {
    return (await this.#current(this.#codec !== undefined))?.kid;
  }

  /**
   * Every published key: the current one and those replaced less than `replacedKeyTtlMs`
   * ago. Read from the store on every call: a key another replica just made must be here
   * before a receiver that fetches this set verifies its first signature.
   */
  async jwks(): Promise<{ keys: PublishedJwk[] }> {
    const { keys } = await this.#read(true);
    const now = this.#clock();
    return { keys: keys.filter((k) => this.#published(k, now)).map(toJwk) };
  }

  /**
   * Adds a new key that signs from now on (on every replica within the signing cache time);
   * the keys it replaces stay published for `replacedKeyTtlMs`. Resolves to the new key id.
   */
  async rotate(): Promise<string> {
    this.#requireRing();
    for (let round = 0; round < MAX_ROUNDS; round++) {
      const { keys, version } = await this.#read(true);
      const now = this.#clock();
      const fresh = this.#generate(now);
      const kept = keys.filter((k) => this.#published(k, now)).map((k) => (k.replacedAt === undefined ? { ...k, replacedAt: now } : k));
      const next = [fresh, ...kept];
      if (await this.#store.putSigningKeys(next, version)) {
        this.#cache = { keys: next, version: version + 1, readAt: now };
        return fresh.kid;
      }
    }
    throw source.error('UNAVAILABLE', 'the signing keys kept changing under a rotation; try again');
  }

  /**
   * Re-seals with the ring's first key every stored private key another ring key sealed, so
   * that key can leave the ring. Keys the ring cannot open stay as they are and are listed.
   * Idempotent; a replica that writes first makes the others' rounds a no-op.
   */
  async reseal(): Promise<ResealReport> {
    this.#requireRing();
    const sealer = this.#o.ring![0]!.id;
    for (let round = 0; round < MAX_ROUNDS; round++) {
      const { keys, version } = await this.#read(true);
      const current = this.#newest(keys);
      const report: ResealReport = { sealer, resealed: [], unopenable: [] };
      const next = keys.map((k) => {
        let der: string;
        try {
          der = this.#open(k);
        } catch (err) {
          report.unopenable.push({ kid: k.kid, current: k === current, message: StowageError.from(err).message });
          return k;
        }
        const was = sealedWith(k.privateKeySealed);
        if (was === sealer) return k;
        report.resealed.push({ kid: k.kid, was: was ?? 'unknown' });
        return { ...k, privateKeySealed: this.#seal(der, k.kid) };
      });
      if (report.resealed.length === 0) return report;
      if (await this.#store.putSigningKeys(next, version)) {
        this.#cache = { keys: next, version: version + 1, readAt: this.#clock() };
        return report;
      }
    }
    throw source.error('UNAVAILABLE', 'the signing keys kept changing under a re-seal; try again');
  }

  /** Signs `<t>.<body>`: the `webhook-signature` header value. */
  static signature(signer: { kid: string; key: KeyObject }, body: string, nowMs: number): string {
    const t = Math.floor(nowMs / 1000);
    const sig = sign(null, Buffer.from(`${t}.${body}`, 'utf8'), signer.key).toString('base64url');
    return `t=${t},kid=${signer.kid},ed25519=${sig}`;
  }

  async #current(create: boolean): Promise<SigningKeyRecord | undefined> {
    const cached = this.#newest((await this.#read(false)).keys);
    if (cached !== undefined || !create) return cached;
    this.#creating ??= this.#create().finally(() => {
      this.#creating = undefined;
    });
    return this.#creating;
  }

  /** Makes the first key, unless another replica did meanwhile: then that one is the key. */
  async #create(): Promise<SigningKeyRecord> {
    this.#requireRing();
    for (let round = 0; round < MAX_ROUNDS; round++) {
      const { keys, version } = await this.#read(true);
      const existing = this.#newest(keys);
      if (existing !== undefined) return existing;
      const now = this.#clock();
      const fresh = this.#generate(now);
      const next = [fresh, ...keys.filter((k) => this.#published(k, now))];
      if (await this.#store.putSigningKeys(next, version)) {
        this.#cache = { keys: next, version: version + 1, readAt: now };
        return fresh;
      }
    }
    throw source.error('UNAVAILABLE', 'the signing keys kept changing while making the first one; try again');
  }

  async #read(fresh: boolean): Promise<{ keys: SigningKeyRecord[]; version: number }> {
    const now = this.#clock();
    const c = this.#cache;
    if (!fresh && c !== undefined && now - c.readAt < this.#o.cacheMs) return c;
    const read = await this.#store.signingKeys();
    this.#cache = { keys: read.keys, version: read.version, readAt: now };
    return read;
  }

  #newest(keys: readonly SigningKeyRecord[]): SigningKeyRecord | undefined {
    let best: SigningKeyRecord | undefined;
    for (const k of keys) if (k.replacedAt === undefined && (best === undefined || k.createdAt > best.createdAt)) best = k;
    return best;
  }

  #published(k: SigningKeyRecord, now: number): boolean {
    return k.replacedAt === undefined || now - k.replacedAt < this.#o.replacedKeyTtlMs;
  }

  #generate(now: number): SigningKeyRecord {
    const { publicKey, privateKey } = generateKeyPairSync('ed25519');
    const jwk = publicKey.export({ format: 'jwk' });
    const publicJwk = JSON.stringify({ crv: jwk.crv, kty: jwk.kty, x: jwk.x });
    const kid = kidOf(publicJwk);
    const der = privateKey.export({ format: 'der', type: 'pkcs8' }).toString('base64');
    this.#privateKeys.set(kid, privateKey);
    return { kid, publicJwk, privateKeySealed: this.#seal(der, kid), createdAt: now };
  }

  /** The private key (PKCS#8 DER, base64) sealed with the ring's first key, bound to the key id. */
  #seal(der: string, kid: string): string {
    return Buffer.from(this.#codec!.encode(der, kid)).toString('base64');
  }

  /** The private key (PKCS#8 DER, base64) of `record`; throws what to do when the ring cannot open it. */
  #open(record: SigningKeyRecord): string {
    this.#requireRing();
    try {
      return this.#codec!.decode(Buffer.from(record.privateKeySealed, 'base64'), record.kid);
    } catch (err) {
      throw this.#unopenable(record, err);
    }
  }

  /**
   * The error of a stored key this ring cannot open: which key, which ring key sealed it, and
   * the two ways out (that ring key back in the ring, or a new signing key).
   */
  #unopenable(record: SigningKeyRecord, err: unknown): StowageError {
    const ring = this.#o.ring!.map((k) => k.id);
    const was = sealedWith(record.privateKeySealed);
    const rotate = 'start one replica once with --rotate-signing-key (or call rotateSigningKey()) to sign with a new key';
    const message =
      was !== undefined && !ring.includes(was)
        ? `it was sealed with ring key ${was}, not in this server's ring (${ring.join(', ')}). Fix: add that key to the ring ` +
          `after the first (STOWAGE_SIGNING_KEY=<new>,<old>, or subscriptions.signingKeys); if it is lost, ${rotate}`
        : `${was === undefined ? 'its sealed form names no ring key' : `ring key ${was} does not open it`} ` +
          `(${StowageError.from(err).message.replace(/^.*?: /, '')}). Fix: ${rotate}`;
    return source.error('CORRUPT', `signing key ${record.kid} cannot be opened: ${message}`, { cause: err });
  }

  #privateKey(record: SigningKeyRecord): KeyObject {
    const known = this.#privateKeys.get(record.kid);
    if (known !== undefined) return known;
    const der = this.#open(record);
    const key = createPrivateKey({ key: Buffer.from(der, 'base64'), format: 'der', type: 'pkcs8' });
    this.#privateKeys.set(record.kid, key);
    return key;
  }

  #requireRing(): void {
    if (this.#codec === undefined) {
      throw source.invalid('webhook signing needs options.subscriptions.signingKeys (the key ring that seals the private keys)');
    }
  }
}

/**
 * The id of the ring key that sealed `sealed` (base64), read from the ciphertext's header as
 * core's `encryptedCodec` lays it out (`version | id length | id | ...`); undefined when unreadable.
 */
function sealedWith(sealed: string): string | undefined {
  const bytes = Buffer.from(sealed, 'base64');
  const length = bytes[1];
  if (length === undefined || length === 0 || bytes.length < 2 + length) return undefined;
  return bytes.subarray(2, 2 + length).toString('ascii');
}

/** `ds_` + the RFC 7638 thumbprint of the public key: base64url SHA-256 of `{"crv","kty","x"}`. */
export function kidOf(publicJwk: string): string {
  const { crv, kty, x } = JSON.parse(publicJwk) as { crv: string; kty: string; x: string };
  const canonical = JSON.stringify({ crv, kty, x });
  return `ds_${createHash('sha256').update(canonical, 'utf8').digest('base64url')}`;
}

function toJwk(k: SigningKeyRecord): PublishedJwk {
  const { x } = JSON.parse(k.publicJwk) as { x: string };
  return { kty: 'OKP', crv: 'Ed25519', x, kid: k.kid, use: 'sig', alg: 'EdDSA' };
}
