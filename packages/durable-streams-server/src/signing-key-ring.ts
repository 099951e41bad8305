import { createHash } from 'node:crypto';
import type { EncryptionKey } from '@stowage/core';

/** The environment variable the CLI reads its key ring from. */
export const SIGNING_KEY_ENV = 'STOWAGE_SIGNING_KEY';

/**
 * The id of a ring key: `env-` and the first 12 hex digits of its SHA-256. Derived from the
 * key alone, so every replica given the same key names it the same, and the stored signing
 * keys (whose ciphertext names the ring key that sealed them) open on any of them.
 */
export function ringKeyId(key: Buffer): string {
  return `env-${createHash('sha256').update(key).digest('hex').slice(0, 12)}`;
}

/**
 * The key ring that seals webhook signing keys, from `STOWAGE_SIGNING_KEY`: one or more keys
 * of 32 bytes in base64 (or base64url), comma-separated. The first seals, every one opens:
 * to rotate the ring, put the new key first and keep the old ones until the stored signing
 * keys were re-sealed (done at start) or rotated.
 */
export function signingKeyRing(raw: string | undefined): EncryptionKey[] {
  if (raw === undefined || raw.trim() === '') {
    throw new Error(`--webhooks needs ${SIGNING_KEY_ENV}: 32 random bytes in base64, e.g. ${SIGNING_KEY_ENV}=$(openssl rand -base64 32)`);
  }
  const entries = raw.split(',').map((e) => e.trim());
  const ring: EncryptionKey[] = [];
  entries.forEach((text, i) => {
    const which = entries.length > 1 ? ` (key ${i + 1} of ${entries.length})` : '';
    if (text === '') throw new Error(`${SIGNING_KEY_ENV} has an empty entry${which}: keys are separated by single commas`);
    const key = /^[A-Za-z0-9+/_-]+={0,2}$/.test(text) ? Buffer.from(text, 'base64') : Buffer.alloc(0);
    if (key.length !== 32) {
      const got = key.length === 0 ? 'no base64' : `${key.length} bytes`;
      throw new Error(`${SIGNING_KEY_ENV} must be 32 bytes in base64 (44 characters), got ${got}${which}`);
    }
    const id = ringKeyId(key);
    const twin = ring.findIndex((k) => k.id === id);
    if (twin >= 0) throw new Error(`${SIGNING_KEY_ENV} lists the same key twice (keys ${twin + 1} and ${i + 1})`);
    ring.push({ id, key });
  });
  return ring;
}
