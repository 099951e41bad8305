import type { SigningKeyRecord, SubscriptionAck, SubscriptionDefinition, WakeProof } from '../contracts/subscription.js';
import type { ErrorSource } from '../errors.js';
import { validateDuration, validateInteger, validateKey, validateOptions, validateString } from '../validate.js';
import { normalizeStreamPath } from './glob.js';

/** Ids are part of document keys (at most 1024 bytes with the prefix). */
const MAX_ID_BYTES = 512;
const MAX_STREAMS = 1000;
const MAX_DOUBLE_STARS = 4;

export function validateId(source: ErrorSource, field: string, value: unknown): string {
  // One limit, one code: a long id is a bad argument (not a payload size).
  if (typeof value === 'string' && value.length * 3 > MAX_ID_BYTES && Buffer.byteLength(value, 'utf8') > MAX_ID_BYTES) {
    throw source.invalid(`${field} must be 1 to ${MAX_ID_BYTES} UTF-8 bytes`, { field });
  }
  return validateKey(source, field, value);
}

/** A stream name as subscriptions keep it: without leading or trailing `/`, not empty. */
export function validateStreamPath(source: ErrorSource, field: string, value: unknown): string {
  const path = normalizeStreamPath(validateKey(source, field, value));
  if (path.length === 0) throw source.invalid(`${field} must name a stream, got only slashes`, { field });
  return path;
}

export function validateStreamList(source: ErrorSource, field: string, value: unknown): string[] {
  if (!Array.isArray(value) || value.length > MAX_STREAMS) {
    throw source.invalid(`${field} must be an array of at most ${MAX_STREAMS} stream names`, { field });
  }
  return [...new Set(value.map((s, i) => validateStreamPath(source, `${field}[${i}]`, s)))];
}

/** A definition, normalized: paths without outer slashes, explicit streams as a set in the given order. */
export function validateDefinition(source: ErrorSource, value: unknown): SubscriptionDefinition {
  const d = validateOptions<SubscriptionDefinition>(source, 'definition', value);
  if (d.type !== 'webhook' && d.type !== 'pull-wake') {
    throw source.invalid(`definition.type must be 'webhook' or 'pull-wake'`, { field: 'definition.type' });
  }
  const streams = validateStreamList(source, 'definition.streams', d.streams ?? []);
  let pattern: string | undefined;
  if (d.pattern !== undefined) {
    pattern = validateStreamPath(source, 'definition.pattern', d.pattern);
    if (pattern.split('/').filter((s) => s === '**').length > MAX_DOUBLE_STARS) {
      throw source.invalid(`definition.pattern may hold at most ${MAX_DOUBLE_STARS} '**' segments`, { field: 'definition.pattern' });
    }
  }
  if (pattern === undefined && streams.length === 0) {
    throw source.invalid('definition needs a pattern or at least one stream', { field: 'definition.pattern' });
  }
  const webhookUrl = d.webhookUrl === undefined ? undefined : validateString(source, 'definition.webhookUrl', d.webhookUrl, 2048, 1);
  if ((d.type === 'webhook') !== (webhookUrl !== undefined)) {
    throw source.invalid('definition.webhookUrl is required for a webhook subscription, and only for one', {
      field: 'definition.webhookUrl',
    });
  }
  const wakeStream = d.wakeStream === undefined ? undefined : validateStreamPath(source, 'definition.wakeStream', d.wakeStream);
  if ((d.type === 'pull-wake') !== (wakeStream !== undefined)) {
    throw source.invalid('definition.wakeStream is required for a pull-wake subscription, and only for one', {
      field: 'definition.wakeStream',
    });
  }
  const leaseTtlMs = validateDuration(source, 'definition.leaseTtlMs', d.leaseTtlMs);
  const description = d.description === undefined ? undefined : validateString(source, 'definition.description', d.description, 4096);
  return {
    type: d.type,
    ...(pattern === undefined ? {} : { pattern }),
    streams,
    ...(webhookUrl === undefined ? {} : { webhookUrl }),
    ...(wakeStream === undefined ? {} : { wakeStream }),
    leaseTtlMs,
    ...(description === undefined ? {} : { description }),
  };
}

export function validateProof(source: ErrorSource, value: unknown): WakeProof {
  const p = validateOptions<WakeProof>(source, 'proof', value);
  return {
    wakeId: validateString(source, 'proof.wakeId', p.wakeId, 256, 1),
    generation: validateInteger(source, 'proof.generation', p.generation, 0, Number.MAX_SAFE_INTEGER),
    token: validateString(source, 'proof.token', p.token, 512, 1),
  };
}

export function validateAcks(source: ErrorSource, value: unknown): SubscriptionAck[] {
  if (!Array.isArray(value) || value.length > MAX_STREAMS) {
    throw source.invalid(`acks must be an array of at most ${MAX_STREAMS} acks`, { field: 'acks' });
  }
  return value.map((a: unknown, i) => {
    const ack = validateOptions<SubscriptionAck>(source, `acks[${i}]`, a);
    return {
      stream: validateStreamPath(source, `acks[${i}].stream`, ack.stream),
      offset: validateString(source, `acks[${i}].offset`, ack.offset, 256, 1),
    };
  });
}

/** `keys` of `putSigningKeys`, checked and copied (nothing of the caller's is stored). */
export function validateSigningKeys(source: ErrorSource, keys: unknown): SigningKeyRecord[] {
  if (!Array.isArray(keys)) throw source.invalid('keys must be an array', { field: 'keys' });
  return keys.map((k, i) => {
    const r = validateOptions<SigningKeyRecord>(source, `keys[${i}]`, k);
    return {
      kid: validateString(source, `keys[${i}].kid`, r.kid, 256, 1),
      publicJwk: validateString(source, `keys[${i}].publicJwk`, r.publicJwk, 4096, 1),
      privateKeySealed: validateString(source, `keys[${i}].privateKeySealed`, r.privateKeySealed, 4096, 1),
      createdAt: validateInteger(source, `keys[${i}].createdAt`, r.createdAt, 0),
      ...(r.replacedAt === undefined ? {} : { replacedAt: validateInteger(source, `keys[${i}].replacedAt`, r.replacedAt, 0) }),
    };
  });
}
