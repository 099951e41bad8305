import type { CallOptions, CsrfTokenStore } from '@stowage/core';
import { STORE_CALLS, hashToken, randomToken, validateCsrfCheck, validateKey, validateTtlOption } from '@stowage/core/adapter-kit';
import { MemoryStoreBase, type MemoryStoreOptions } from './base.js';
import { ExpiringMap } from './expiring-map.js';

const CALLS = STORE_CALLS.csrf;

/** A session's tokens (SHA-256 of each, to its expiry); lives as long as its last token. */
interface Entry {
  tokens: Map<string, number>;
  expiresAt: number;
}

/** {@link CsrfTokenStore} in process memory; keeps only SHA-256 hashes of tokens. */
export class MemoryCsrfTokenStore extends MemoryStoreBase implements CsrfTokenStore {
  private readonly sessions: ExpiringMap<string, Entry>;

  constructor(options: MemoryStoreOptions = {}) {
    super('MemoryCsrfTokenStore', options);
    this.sessions = new ExpiringMap<string, Entry>({ maxEntries: this.maxEntries });
    this.instrument('csrf');
  }

  async issue(sessionId: string, opts: { ttlMs: number } & CallOptions): Promise<string> {
    validateKey(this.source, 'sessionId', sessionId);
    const ttlMs = validateTtlOption(this.source, opts);
    const now = this.begin(opts, CALLS.issue);
    const token = randomToken(32);
    const expiresAt = now + ttlMs;
    let e = this.sessions.get(sessionId, now);
    if (e === undefined) {
      e = { tokens: new Map(), expiresAt };
      this.sessions.set(sessionId, e);
    } else {
      for (const [hash, at] of e.tokens) if (at <= now) e.tokens.delete(hash);
    }
    e.tokens.set(hashToken(token), expiresAt);
    if (expiresAt > e.expiresAt) {
      e.expiresAt = expiresAt;
      this.sessions.retime(sessionId, e);
    }
    return token;
  }

  async validate(sessionId: string, token: string, opts?: { consume?: boolean } & CallOptions): Promise<boolean> {
    const consume = validateCsrfCheck(this.source, sessionId, token, opts);
    const now = this.begin(opts, CALLS.validate);
    const e = this.sessions.get(sessionId, now);
    if (e === undefined) return false;
    // Looked up by hash: the comparison is a hash-table lookup on a SHA-256, not on the secret.
    const hash = hashToken(token);
    const at = e.tokens.get(hash);
    if (at === undefined || at <= now) return false;
    if (consume) e.tokens.delete(hash);
    return true;
  }

  async revoke(sessionId: string, opts?: CallOptions): Promise<number> {
    validateKey(this.source, 'sessionId', sessionId);
    const now = this.begin(opts, CALLS.revoke);
    const e = this.sessions.get(sessionId, now);
    if (e === undefined) return 0;
    let live = 0;
    for (const at of e.tokens.values()) if (at > now) live++;
    this.sessions.delete(sessionId);
    return live;
  }

  /** Background sweep: a session entry leaves when its last token expires (one heap pop). */
  protected sweep(now: number): number {
    return this.sessions.sweep(now);
  }

  /** Drops every expired token (also inside live sessions) and returns how many. */
  override async prune(): Promise<number> {
    const now = this.now();
    let count = 0;
    for (const e of this.sessions.values()) {
      for (const [hash, at] of e.tokens) {
        if (at <= now) {
          e.tokens.delete(hash);
          count++;
        }
      }
    }
    this.sessions.sweep(now);
    return count;
  }

  protected override onClose(): void {
    this.sessions.clear();
  }
}
