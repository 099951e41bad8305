import {
  evaluateRateLimit,
  normalizePolicies,
  validateCost,
  validateKey,
  validateOptions,
  type NormalizedPolicy,
  type RateLimitConsumeOptions,
  type RateLimitDecision,
  type RateLimitPolicy,
  type RateLimitState,
  type RateLimitStore,
} from '@stowage/core';
import type { Statement } from 'better-sqlite3';
import { SqliteStoreBase, type SqliteStoreOptions } from './base.js';

interface Row {
  policy: string;
  a: number;
  b: number;
  c: number;
}

interface Statements {
  read: Statement;
  write: Statement;
  remove: Statement;
  reset: Statement;
  consume: (key: string, policies: readonly NormalizedPolicy[], cost: number, now: number) => RateLimitDecision;
}

/**
 * {@link RateLimitStore} on better-sqlite3. A `consume` is one `BEGIN IMMEDIATE`
 * transaction: it reads the key's states, decides with the reference functions of
 * `@stowage/core`, and writes, so every process sharing the file sees one order.
 */
export class SqliteRateLimitStore extends SqliteStoreBase<Statements> implements RateLimitStore {
  protected readonly component = 'rate_limits';

  constructor(options: SqliteStoreOptions) {
    super('SqliteRateLimitStore', options);
  }

  protected prepare(): Statements {
    const t = `${this.prefix}rate_limits`;
    const s = {
      read: this.db.prepare(`SELECT policy, a, b, c FROM ${t} WHERE key = ? AND expires_at > ?`),
      write: this.db.prepare(
        `INSERT INTO ${t} (key, policy, a, b, c, expires_at) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (key, policy) DO UPDATE SET a = excluded.a, b = excluded.b, c = excluded.c, expires_at = excluded.expires_at`,
      ),
      remove: this.db.prepare(`DELETE FROM ${t} WHERE key = ? AND policy = ?`),
      reset: this.db.prepare(`DELETE FROM ${t} WHERE key = ?`),
    };
    const consume = this.db.transaction(
      (key: string, policies: readonly NormalizedPolicy[], cost: number, now: number): RateLimitDecision => {
        const { decision, writes } = this.evaluate(s.read, key, policies, now, cost, true);
        writes?.forEach((w, i) => {
          const id = policies[i]!.id;
          if (w === undefined) s.remove.run(key, id);
          else s.write.run(key, id, w.state[0], w.state[1], w.state[2], now + w.ttlMs);
        });
        return decision;
      },
    );
    return { ...s, consume: (key, policies, cost, now) => consume.immediate(key, policies, cost, now) };
  }

  private evaluate(read: Statement, key: string, policies: readonly NormalizedPolicy[], now: number, cost: number, consume: boolean) {
    const rows = read.all(key, now) as Row[];
    const states = policies.map((p): RateLimitState | undefined => {
      for (const r of rows) if (r.policy === p.id) return [r.a, r.b, r.c];
      return undefined;
    });
    return evaluateRateLimit(policies, states, now, cost, consume);
  }

  protected pruneStatements(): string[] {
    const t = `${this.prefix}rate_limits`;
    return [`DELETE FROM ${t} WHERE (key, policy) IN (SELECT key, policy FROM ${t} WHERE expires_at <= ? LIMIT ?)`];
  }

  async consume(key: string, policy: RateLimitPolicy | readonly RateLimitPolicy[], opts?: RateLimitConsumeOptions): Promise<RateLimitDecision> {
    validateKey(this.source, 'key', key);
    const policies = normalizePolicies(this.source, policy);
    const cost = validateCost(this.source, validateOptions<RateLimitConsumeOptions>(this.source, 'opts', opts).cost, policies);
    return this.op((s, now) => s.consume(key, policies, cost, now));
  }

  async peek(key: string, policy: RateLimitPolicy | readonly RateLimitPolicy[]): Promise<RateLimitDecision> {
    validateKey(this.source, 'key', key);
    const policies = normalizePolicies(this.source, policy);
    return this.op((s, now) => this.evaluate(s.read, key, policies, now, 1, false).decision);
  }

  async reset(key: string): Promise<void> {
    validateKey(this.source, 'key', key);
    this.op((s) => s.reset.run(key));
  }
}
