import type { StreamReadResult } from '@stowage/core';

const EMPTY = Buffer.alloc(0);

/**
 * The bytes of a batch of messages as one Buffer. Messages that already lie side by side in
 * one buffer (a store that read them in one piece hands out views of it) are answered with a
 * view of that run, without a copy; otherwise one allocation and one copy each.
 */
export function concatMessages(messages: readonly { data: Uint8Array }[]): Buffer {
  const n = messages.length;
  if (n === 0) return EMPTY;
  const first = messages[0]!.data;
  let size = first.byteLength;
  let next = first.byteOffset + size;
  let adjacent = true;
  for (let i = 1; i < n; i++) {
    const d = messages[i]!.data;
    size += d.byteLength;
    if (adjacent && (d.buffer !== first.buffer || d.byteOffset !== next)) adjacent = false;
    next = d.byteOffset + d.byteLength;
  }
  if (adjacent) return Buffer.from(first.buffer, first.byteOffset, size);
  const out = Buffer.allocUnsafe(size);
  let at = 0;
  for (let i = 0; i < n; i++) {
    const d = messages[i]!.data;
    out.set(d, at);
    at += d.byteLength;
  }
  return out;
}

/** The body of a read: the store's run of bytes when it has one (no copy), else the messages joined. */
export function readBytes(result: StreamReadResult): Buffer {
  const b = result.bytes;
  if (b === undefined) return concatMessages(result.messages);
  return Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}

/** Whether a read returned messages, without building them (messages are never empty). */
export const hasMessages = (result: StreamReadResult): boolean =>
  result.bytes === undefined ? result.messages.length > 0 : result.bytes.byteLength > 0;
