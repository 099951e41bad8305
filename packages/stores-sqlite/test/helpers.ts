import type Database from 'better-sqlite3';

const tablesOf = (db: Database.Database, prefix: string): string[] =>
  (
    db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table' AND substr(name, 1, ?) = ?`).all(prefix.length, prefix) as {
      name: string;
    }[]
  ).map((r) => r.name);

/** Drops every table of a namespace (tables are named from it; names are validated identifiers). */
export function dropPrefix(db: Database.Database, prefix: string): void {
  for (const t of tablesOf(db, prefix)) db.exec(`DROP TABLE IF EXISTS "${t}"`);
}

/** Everything a namespace holds, as text: table names and every row. */
export function dumpPrefix(db: Database.Database, prefix: string): string {
  return tablesOf(db, prefix)
    .map((t) => `${t}\n${JSON.stringify(db.prepare(`SELECT * FROM "${t}"`).all(), (_, v) => (Buffer.isBuffer(v) ? v.toString('hex') : v))}`)
    .join('\n');
}
