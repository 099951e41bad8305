import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { ErrorSource } from './errors.js';

/** Turns a value into the bytes a store keeps, and back. `id` is the record's id. */
export interface Codec<T = unknown> {
  encode(value: T, id: string): Uint8Array;
  /** `CORRUPT` when the bytes cannot be decoded. */
  decode(bytes: Uint8Array, id: string): T;
}

const jsonSource = new ErrorSource('@stowage/core', 'jsonCodec');
const decoder = new TextDecoder('utf-8', { fatal: true });

/**
 * JSON as UTF-8. A value JSON cannot encode (`undefined`, a circular object, a BigInt, a
 * throwing `toJSON`) is `INVALID_ARGUMENT` with the cause attached, before anything is stored.
 */
export const jsonCodec: Codec = Object.freeze({
  encode(value: unknown): Uint8Array {
    let text: string | undefined;
    try {
      text = JSON.stringify(value);
    } catch (cause) {
      const why = cause instanceof Error ? cause.message.split('\n')[0] : String(cause);
      throw jsonSource.error('INVALID_ARGUMENT', `the value cannot be encoded as JSON (${why})`, { cause });
    }
    if (text === undefined) throw jsonSource.invalid('the value is not JSON-serializable');
    // Buffer.from is about 3x faster than TextEncoder for session-sized strings.
    return Buffer.from(text, 'utf8');
  },
  decode(bytes: Uint8Array): unknown {
    try {
      return JSON.parse(decoder.decode(bytes));
    } catch (cause) {
      throw jsonSource.error('CORRUPT', 'the stored bytes are not UTF-8 JSON', { cause });
    }
  },
});

export interface EncryptionKey {
  /** Names the key inside each ciphertext: 1 to 64 characters of `[A-Za-z0-9._-]`. */
  id: string;
  /** 32 bytes, or a base64 / base64url string of 32 bytes. */
  key: Uint8Array | string;
}

export interface EncryptedCodecOptions<T> {
  /** The key ring. The first key encrypts; every key decrypts. Rotate by putting a new key first. */
  keys: readonly EncryptionKey[];
  /** What is encrypted. @default jsonCodec */
  inner?: Codec<T>;
}

const FORMAT_VERSION = 1;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const KEY_ID = /^[A-Za-z0-9._-]{1,64}$/;
const encSource = new ErrorSource('@stowage/core', 'encryptedCodec');

function keyBytes(k: EncryptionKey, index: number): Buffer {
  const raw = typeof k.key === 'string' ? Buffer.from(k.key, 'base64') : Buffer.from(k.key);
  if (raw.length !== 32) throw encSource.invalid(`keys[${index}].key must be 32 bytes (AES-256)`);
  return raw;
}

/**
 * AES-256-GCM encryption at rest with a key ring.
 *
 * Layout: `version (1) | key id length (1) | key id | iv (12) | ciphertext | tag (16)`.
 * The key id travels with each ciphertext, so keys rotate without downtime: records written
 * under an old key still decrypt while it is in the ring. The record id (and the header) is
 * bound as additional authenticated data: a ciphertext copied to another id, a tampered
 * byte, or an unknown key id fails with `CORRUPT`.
 */
export function encryptedCodec<T = unknown>(options: EncryptedCodecOptions<T>): Codec<T> {
  const inner = (options.inner ?? jsonCodec) as Codec<T>;
  if (!Array.isArray(options.keys) || options.keys.length === 0) {
    throw encSource.invalid('keys must hold at least one key');
  }
  const ring = new Map<string, Buffer>();
  options.keys.forEach((k, i) => {
    if (typeof k?.id !== 'string' || !KEY_ID.test(k.id)) {
      throw encSource.invalid(`keys[${i}].id must be 1 to 64 characters of [A-Za-z0-9._-]`);
    }
    if (ring.has(k.id)) throw encSource.invalid(`key id ${k.id} appears twice`);
    ring.set(k.id, keyBytes(k, i));
  });
  const primaryId = options.keys[0]!.id;
  const primaryKey = ring.get(primaryId)!;
  const header = Buffer.concat([Buffer.from([FORMAT_VERSION, primaryId.length]), Buffer.from(primaryId, 'ascii')]);

  const aad = (head: Uint8Array, id: string): Buffer => Buffer.concat([head, Buffer.from(id, 'utf8')]);

  return Object.freeze({
    encode(value: T, id: string): Uint8Array {
      const plain = inner.encode(value, id);
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv('aes-256-gcm', primaryKey, iv);
      cipher.setAAD(aad(header, id));
      const body = Buffer.concat([cipher.update(plain), cipher.final()]);
      return Buffer.concat([header, iv, body, cipher.getAuthTag()]);
    },
    decode(bytes: Uint8Array, id: string): T {
      const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      if (buf.length < 2 || buf[0] !== FORMAT_VERSION) {
        throw encSource.error('CORRUPT', 'not a Stowage ciphertext (unknown format version)');
      }
      const idLength = buf[1]!;
      const headLength = 2 + idLength;
      if (buf.length < headLength + IV_BYTES + TAG_BYTES) throw encSource.error('CORRUPT', 'ciphertext too short');
      const keyId = buf.subarray(2, headLength).toString('ascii');
      const key = ring.get(keyId);
      if (key === undefined) throw encSource.error('CORRUPT', `ciphertext was made with key ${keyId}, not in the ring`);
      const iv = buf.subarray(headLength, headLength + IV_BYTES);
      const tag = buf.subarray(buf.length - TAG_BYTES);
      let plain: Buffer;
      try {
        const decipher = createDecipheriv('aes-256-gcm', key, iv);
        decipher.setAAD(aad(buf.subarray(0, headLength), id));
        decipher.setAuthTag(tag);
        plain = Buffer.concat([decipher.update(buf.subarray(headLength + IV_BYTES, buf.length - TAG_BYTES)), decipher.final()]);
      } catch (cause) {
        throw encSource.error('CORRUPT', 'ciphertext failed authentication (tampered, or bound to another id)', {
          cause,
        });
      }
      return inner.decode(plain, id);
    },
  });
}
