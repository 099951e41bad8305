import type { IdempotencyStore, Reservation, StoredResponse } from '@stowage/core';
import { expect } from 'vitest';
import type { opener } from '../../context.js';
import { bytes } from '../../helpers.js';

/** What each part of the contract gets to open its stores. */
export type IdempotencyOpen = ReturnType<typeof opener<IdempotencyStore>>;

export const LEASE = 30_000;
export const KEEP = 86_400_000;
export const FP = 'fingerprint-a';

export const response = (body = 'created'): StoredResponse => ({
  status: 201,
  headers: [
    ['content-type', 'application/json'],
    ['set-cookie', 'a=1'],
    ['set-cookie', 'b=2'],
    ['x-unicode', 'é🔑'],
  ],
  body: bytes(body),
});

export function token(r: Reservation): string {
  expect(r.state).toBe('reserved');
  return (r as { token: string }).token;
}
