import { performance } from 'node:perf_hooks';
import type { StreamStore } from '@stowage/core';
import { soakBackend } from '../soak/stores.js';
import { type Latency, latency, random, sample } from './measure.js';
import type { Backend } from './targets.js';

/** One stream of 100 messages (the small case), one long stream (10^6), or many streams (10^4) of 100. */
export type StreamCase = string;
const SMALL = '1 stream × 100';
const exp = (n: number) => `10^${Math.round(Math.log10(n))}`;

export interface StreamScaleRow extends Latency {
  backend: Backend;
  case: StreamCase;
  operation: 'append 100 B' | 'read 10 messages';
  /** p50 over the small case's (the goal: at most 1.2). */
  p50Ratio: number;
  loadMs: number;
}

const MESSAGE = new Uint8Array(100).fill(120);
const CONFIG = { contentType: 'application/octet-stream' };

interface Loaded {
  names: string[];
  /** Offsets inside the streams to read from: [stream index, offset]. */
  offsets: [number, string][];
}

/** Fills `streams` streams with `perStream` messages in batches of `batch`, recording the offset after each batch. */
async function load(store: StreamStore, tag: string, streams: number, perStream: number, batch: number): Promise<Loaded> {
  const names: string[] = [];
  const offsets: [number, string][] = [];
  const messages = Array.from({ length: batch }, () => MESSAGE);
  for (let s = 0; s < streams; s++) {
    const name = `${tag}-${s}`;
    await store.create(name, CONFIG);
    names.push(name);
    for (let m = 0; m < perStream; m += batch) {
      const r = await store.append(name, messages.slice(0, Math.min(batch, perStream - m)));
      // The last batch's offset is the tail: nothing to read after it.
      if (m + batch < perStream) offsets.push([s, r.nextOffset]);
    }
  }
  return { names, offsets };
}

/**
 * Streams at scale on one backend, through the StreamStore API: append p50 / p99 (one
 * message to the stream, or a random one of the many) and read p50 / p99 (10 messages from a
 * random offset inside the stream) for the small case, a long stream and many streams.
 */
export async function streamScale(
  backend: Backend,
  samples: number,
  log: (l: string) => void,
  sizes: { long: number; many: number } = { long: 1_000_000, many: 10_000 },
  sqlitePragmas: string[] = [],
): Promise<StreamScaleRow[]> {
  const b = await soakBackend(backend, sqlitePragmas);
  const store = b.stores.streams;
  const rows: StreamScaleRow[] = [];
  try {
    const cases: [StreamCase, number, number, number][] = [
      [SMALL, 1, 100, 10],
      [`1 stream × ${exp(sizes.long)}`, 1, sizes.long, Math.max(1, Math.min(1000, Math.floor(sizes.long / 10)))],
      [`${exp(sizes.many)} streams × 100`, sizes.many, 100, 50],
    ];
    for (const [c, streams, perStream, batch] of cases) {
      const t0 = performance.now();
      const loaded = await load(store, `c${rows.length}`, streams, perStream, batch);
      const loadMs = Math.round(performance.now() - t0);
      log(`  streams ${c} loaded in ${loadMs} ms`);
      const next = random(streams);
      const append = () => store.append(loaded.names[Math.floor(next() * streams)]!, [MESSAGE]);
      const read = async () => {
        const [s, offset] = loaded.offsets[Math.floor(next() * loaded.offsets.length)]!;
        const r = await store.read(loaded.names[s]!, offset, { maxMessages: 10 });
        if (r.messages.length !== 10) throw new Error(`read ${r.messages.length} messages, expected 10`);
      };
      // Reads first: the appends then add to the streams' tails, after every recorded offset.
      for (const [operation, op] of [
        ['read 10 messages', read],
        ['append 100 B', append],
      ] as const) {
        const l = latency(await sample(op, samples));
        const small = rows.find((r) => r.case === SMALL && r.operation === operation);
        rows.push({ backend, case: c, operation, ...l, p50Ratio: small ? Math.round((l.p50Us / small.p50Us) * 100) / 100 : 1, loadMs });
        log(`  streams ${c} ${operation}: p50 ${l.p50Us} µs, p99 ${l.p99Us} µs`);
      }
    }
  } finally {
    await b.close();
  }
  return rows;
}
