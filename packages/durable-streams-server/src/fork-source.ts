import type { IncomingMessage } from 'node:http';
import { isOffset, OFFSET_START_SENTINEL, StowageError, type StreamForkSpec, type StreamReadResult } from '@stowage/core';
import { isJsonType, jsonPrefix } from './json.js';
import { integerHeader, REQUEST_HEADER, single, source } from './protocol.js';
import { namesThisServer } from './own-host.js';
import type { HandlerContext, StreamRequest } from './request.js';
import { nameOf, segmentProblem } from './route.js';
import { isReserved } from './subscription-routes.js';

/**
 * The fork a create asks for (`Stream-Forked-From`, `Stream-Fork-Offset`,
 * `Stream-Fork-Sub-Offset`), every header checked before the store is asked, so a refused
 * fork changes nothing. A sub-offset is resolved here: the server knows content types.
 */
export async function forkSpec(c: HandlerContext, r: StreamRequest): Promise<StreamForkSpec | undefined> {
  const h = r.req.headersDistinct;
  const fromHeader = single(h, REQUEST_HEADER.forkedFrom);
  const offset = single(h, REQUEST_HEADER.forkOffset);
  const subOffset = integerHeader(h, REQUEST_HEADER.forkSubOffset);
  if (fromHeader === undefined) {
    if (offset !== undefined || subOffset !== undefined) {
      throw source.invalid('Stream-Fork-Offset and Stream-Fork-Sub-Offset need Stream-Forked-From');
    }
    return undefined;
  }
  const from = forkSourceName(c.o.basePath, r.req, fromHeader);
  if (offset !== undefined && offset !== OFFSET_START_SENTINEL && !isOffset(offset)) throw badOffset(offset);
  if (subOffset === undefined || subOffset === 0) return { from, ...(offset === undefined ? {} : { offset }) };
  if (offset === undefined) throw source.invalid('a Stream-Fork-Sub-Offset above 0 needs Stream-Fork-Offset');
  const next = await messageAt(c, from, offset);
  const message = next.messages[0];
  if (message === undefined) throw source.invalid('Stream-Fork-Sub-Offset needs a message after Stream-Fork-Offset');
  if (isJsonType(next.info.contentType)) {
    const { values, prefix } = jsonPrefix(message.data, subOffset);
    if (subOffset > values) {
      throw source.invalid(`Stream-Fork-Sub-Offset ${subOffset} is past the ${values} values of the message at the fork offset`);
    }
    return { from, offset, subOffset, prefix };
  }
  if (subOffset > message.data.byteLength) {
    throw source.invalid(
      `Stream-Fork-Sub-Offset ${subOffset} is past the ${message.data.byteLength} bytes of the message at the fork offset`,
    );
  }
  return { from, offset, subOffset, prefix: message.data.subarray(0, subOffset) };
}

/** The message at the fork offset, the store's refusals worded as the fork's (as the create would word them). */
async function messageAt(c: HandlerContext, from: string, offset: string): Promise<StreamReadResult> {
  try {
    return await c.o.store.read(from, offset, { maxMessages: 1 });
  } catch (err) {
    if (StowageError.is(err, 'GONE')) throw source.error('CONFLICT', `fork source ${from} was deleted`);
    if (StowageError.is(err, 'NOT_FOUND')) throw source.error('NOT_FOUND', `fork source ${from} does not exist`);
    if (StowageError.is(err, 'INVALID_ARGUMENT') && err.details?.['pastTail'] === true) {
      const tail = (await c.o.store.head(from))?.nextOffset;
      throw source.invalid(`fork offset ${offset} is past the source's tail${tail === undefined ? '' : ` ${tail}`}`);
    }
    throw err;
  }
}

/**
 * The stream `Stream-Forked-From` names: a path under `basePath` (percent-encoded, as in a
 * request target), or an absolute URL of this server. Whatever could never name one of our
 * streams is 400, rather than a 404 that reads as "not created yet": a query or fragment
 * (a `?` or `#` in a name is percent-encoded), another host (see `namesThisServer`), the
 * reserved `__ds/`, and the segments a request target may not have either.
 */
export function forkSourceName(basePath: string, req: IncomingMessage, value: string): string {
  let path = value;
  if (!value.startsWith('/')) {
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      throw source.invalid(
        `Stream-Forked-From must be a stream's path (like ${basePath}name) or URL, got ${JSON.stringify(value.slice(0, 64))}`,
      );
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw source.invalid(
        `Stream-Forked-From must be a stream's path (like ${basePath}name) or an http(s) URL of this server, got a ${url.protocol} URL`,
      );
    }
    // Credentials name no stream, and would be kept in logs of what was refused.
    if (url.username !== '' || url.password !== '') throw source.invalid('Stream-Forked-From must not carry credentials (user:password@)');
    if (!namesThisServer(url, req)) {
      throw source.invalid(
        `Stream-Forked-From names another server (${url.host}): a fork's source is a stream of this server ` +
          '(the host the request was sent to, or an address it listens on, and its port)',
      );
    }
    if (url.search !== '' || url.hash !== '') throw noQuery();
    path = url.pathname;
  } else if (value.includes('?') || value.includes('#')) {
    throw noQuery();
  }
  const name = nameOf(basePath, path);
  if (name === undefined || name.length === 0) throw source.invalid(`Stream-Forked-From must name a stream under ${basePath}`);
  if (isReserved(name)) {
    throw source.invalid(
      `Stream-Forked-From names ${basePath}${name}, under ${basePath}__ds/, which the protocol reserves: no stream lives there`,
    );
  }
  const problem = segmentProblem(name);
  if (problem !== undefined) throw source.invalid(`Stream-Forked-From cannot name a stream with ${problem}`);
  return name;
}

// A function of a `string`, not of a narrowed `never`: `isOffset` is a type guard.
const badOffset = (offset: string) =>
  source.invalid(
    `Stream-Fork-Offset must be an offset of this server (a Stream-Next-Offset, like 0000000000000000_0000000000000000) or -1, got ${JSON.stringify(offset.slice(0, 64))}`,
  );

const noQuery = () =>
  source.invalid(
    "Stream-Forked-From must be the source stream's path without a query or fragment (a ? or # in a name is written %3F or %23)",
  );
