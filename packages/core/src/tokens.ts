import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** A random token of `bytes` bytes from `crypto.randomBytes`, base64url without padding. */
export function randomToken(bytes = 16): string {
  return randomBytes(bytes).toString('base64url');
}

/** SHA-256 of a UTF-8 string, base64url (43 characters): how secrets are kept at rest. */
export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('base64url');
}

/** Constant-time string equality (the time depends only on the lengths). */
export function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  if (x.length !== y.length) {
    timingSafeEqual(x, x);
    return false;
  }
  return timingSafeEqual(x, y);
}
