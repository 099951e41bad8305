import type { StreamStore } from '@stowage/core';
import type { opener } from '../../context.js';
import { bytes, text } from '../../helpers.js';

/** What each part of the contract gets to open its stores. */
export type StreamOpen = ReturnType<typeof opener<StreamStore>>;

export const START = '0000000000000000_0000000000000000';
export const TEXT = 'text/plain';
export const HOUR = 3_600_000;
export const msgs = (...parts: string[]) => parts.map(bytes);
export const texts = (r: { messages: { data: Uint8Array }[] }) => r.messages.map((m) => text(m.data));

export async function readAll(store: StreamStore, name: string, from = '-1'): Promise<string[]> {
  const out: string[] = [];
  let offset = from;
  for (let i = 0; i < 10_000; i++) {
    const r = await store.read(name, offset);
    out.push(...texts(r));
    offset = r.nextOffset;
    if (r.atTail) return out;
  }
  throw new Error('readAll did not reach the tail');
}
