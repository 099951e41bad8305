import { createHash, createPrivateKey, generateKeyPairSync, type KeyObject, sign } from 'node:crypto';
import { type Codec, type EncryptionKey, encryptedCodec, type SigningKeyRecord, type SubscriptionStore } from '@stowage/core';
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
    const sealed = Buffer.from(this.#codec!.encode(der, kid)).toString('base64');
    this.#privateKeys.set(kid, privateKey);
    return { kid, publicJwk, privateKeySealed: sealed, createdAt: now };
  }

  #privateKey(record: SigningKeyRecord): KeyObject {
    const known = this.#privateKeys.get(record.kid);
    if (known !== undefined) return known;
    this.#requireRing();
    // CORRUPT when the ring lacks the key that sealed it: a replica started with another key ring.
    const der = this.#codec!.decode(Buffer.from(record.privateKeySealed, 'base64'), record.kid);
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
