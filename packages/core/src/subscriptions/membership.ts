import type { CallOptions } from '../contracts/common.js';
import { type Documents, emptyMap } from './documents.js';
import { matchesPattern } from './glob.js';

/** Which subscriptions exist and which streams they name: what an append is matched against. */
interface IndexDocument {
  subs: Record<string, { pattern?: string; streams: string[] }>;
}

const INDEX = 'index';

/** A subscription as the index names it. */
export interface Indexed {
  pattern: string | undefined;
  streams: readonly string[];
}

function sameEntry(entry: IndexDocument['subs'][string] | undefined, pattern: string | undefined, streams: readonly string[]): boolean {
  return (
    entry !== undefined &&
    entry.pattern === pattern &&
    entry.streams.length === streams.length &&
    entry.streams.every((s, i) => s === streams[i])
  );
}

/**
 * The membership index: one document naming every subscription with its pattern and explicit
 * streams. Written before a subscription's own document on create and add, after it on delete
 * and remove, so an entry without a document is skipped and a document never lacks an entry.
 */
export class Membership {
  constructor(private readonly docs: Documents) {}

  /** Every subscription id. */
  async ids(call: CallOptions): Promise<string[]> {
    return Object.keys((await this.docs.read<IndexDocument>(INDEX, call))?.value.subs ?? {});
  }

  /** The subscriptions an append to `path` concerns, by pattern or by name. */
  async membersOf(path: string, call: CallOptions): Promise<{ id: string; glob: boolean; explicit: boolean }[]> {
    const index = await this.docs.read<IndexDocument>(INDEX, call);
    const members: { id: string; glob: boolean; explicit: boolean }[] = [];
    for (const [id, entry] of Object.entries(index?.value.subs ?? {})) {
      const glob = entry.pattern !== undefined && matchesPattern(entry.pattern, path);
      const explicit = entry.streams.includes(path);
      if (glob || explicit) members.push({ id, glob, explicit });
    }
    return members;
  }

  /**
   * Enters a subscription unless it is there (a conflicting re-create keeps the first entry).
   * True when this call entered it.
   */
  enter(id: string, pattern: string | undefined, streams: readonly string[], call: CallOptions): Promise<boolean> {
    return this.docs.update<IndexDocument, boolean>(INDEX, call, (index) => {
      const next = index ?? { subs: emptyMap() };
      if (next.subs[id] !== undefined) return { result: false };
      next.subs[id] = { ...(pattern === undefined ? {} : { pattern }), streams: [...streams] };
      return { write: next, result: true };
    });
  }

  /**
   * Makes a subscription's entry name its document's pattern and streams (after the document
   * was written or found: a concurrent PUT of the id may have entered another definition
   * first). Streams the entry names beyond them are kept (one `addStreams` entered before its
   * document step), but for `drop` (those a refused PUT entered).
   */
  async adopt(
    id: string,
    pattern: string | undefined,
    streams: readonly string[],
    call: CallOptions,
    drop: readonly string[] = [],
  ): Promise<void> {
    await this.docs.update<IndexDocument, void>(INDEX, call, (index) => {
      const next = index ?? { subs: emptyMap() };
      const kept = (next.subs[id]?.streams ?? []).filter((s) => !drop.includes(s));
      const names = [...new Set([...streams, ...kept])];
      if (sameEntry(next.subs[id], pattern, names)) return { result: undefined };
      next.subs[id] = { ...(pattern === undefined ? {} : { pattern }), streams: names };
      return { write: next, result: undefined };
    });
  }

  /** Removes a subscription's entry if it is still the one given (a PUT's own, not another's). */
  async removeIf(id: string, pattern: string | undefined, streams: readonly string[], call: CallOptions): Promise<void> {
    await this.docs.update<IndexDocument, void>(INDEX, call, (index) => {
      if (index === undefined || !sameEntry(index.subs[id], pattern, streams)) return { result: undefined };
      delete index.subs[id];
      return { write: index, result: undefined };
    });
  }

  /**
   * After a PUT that entered `pattern` and `streams` failed to write its document: removes
   * that entry if it is still the one given; should another PUT of the id have made the
   * document (`current`), the entry names that one's, without the streams only the failed PUT
   * named. Best effort: an entry left is skipped (no document), and a DELETE removes it.
   */
  async forgetFailedPut(
    id: string,
    pattern: string | undefined,
    streams: readonly string[],
    current: () => Promise<Indexed | undefined>,
    call: CallOptions,
  ): Promise<void> {
    try {
      let doc = await current();
      if (doc === undefined) {
        await this.removeIf(id, pattern, streams, call);
        doc = await current();
      }
      if (doc !== undefined)
        await this.adopt(
          id,
          doc.pattern,
          doc.streams,
          call,
          streams.filter((s) => !doc!.streams.includes(s)),
        );
    } catch {
      // Left for a DELETE, as above.
    }
  }

  async addStreams(id: string, streams: readonly string[], call: CallOptions): Promise<void> {
    await this.docs.update<IndexDocument, void>(INDEX, call, (index) => {
      const entry = index?.subs[id];
      if (index === undefined || entry === undefined) return { result: undefined };
      const names = [...new Set([...entry.streams, ...streams])];
      if (names.length === entry.streams.length) return { result: undefined };
      entry.streams = names;
      return { write: index, result: undefined };
    });
  }

  async removeStream(id: string, path: string, call: CallOptions): Promise<void> {
    await this.docs.update<IndexDocument, void>(INDEX, call, (index) => {
      const entry = index?.subs[id];
      if (index === undefined || entry === undefined || !entry.streams.includes(path)) return { result: undefined };
      entry.streams = entry.streams.filter((s) => s !== path);
      return { write: index, result: undefined };
    });
  }

  async remove(id: string, call: CallOptions): Promise<void> {
    await this.docs.update<IndexDocument, void>(INDEX, call, (index) => {
      if (index?.subs[id] === undefined) return { result: undefined };
      delete index.subs[id];
      return { write: index, result: undefined };
    });
  }
}
