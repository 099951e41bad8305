import type { StreamReadResult } from '@stowage/core';
import { readBytes } from './bytes.js';
import { isJsonType, jsonArray } from './json.js';

/**
 * Bodies already built, by read: one read of the store is shared by every long-poll woken by
 * the same append and by catch-up reads that waited their turn together, and each building
 * its own copy made 400 readers of one 8 MiB JSON append hold 3.3 GB. Gone with the read.
 */
const bodies = new WeakMap<StreamReadResult, Buffer>();

/** A read's response body: its bytes, or for JSON streams the messages as one array; built once per read. */
export function readBody(result: StreamReadResult): Buffer {
  let body = bodies.get(result);
  if (body === undefined) {
    body = isJsonType(result.info.contentType) ? jsonArray(result.messages) : readBytes(result);
    bodies.set(result, body);
  }
  return body;
}
