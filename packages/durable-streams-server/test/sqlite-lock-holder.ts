import { spawn } from 'node:child_process';

// Another process that holds a SQLite file's write lock (BEGIN IMMEDIATE, as a long
// transaction or the sqlite3 shell would) until told to let go.
const HOLDER = `
const db = new (require('better-sqlite3'))(process.argv[1], { timeout: 0 });
db.exec('BEGIN IMMEDIATE');
process.stdout.write('locked\\n');
process.stdin.once('data', () => { db.exec('ROLLBACK'); db.close(); process.exit(0); });
setTimeout(() => process.exit(1), 60_000);
`;

/** Holds `file`'s write lock from another process once this resolves, until `release()` (its exit code). */
export async function holdLock(file: string): Promise<{ release(): Promise<number | null> }> {
  const child = spawn(process.execPath, ['-e', HOLDER, file], { cwd: import.meta.dirname, stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  await new Promise((resolve, reject) => {
    child.stdout!.once('data', resolve);
    child.once('error', reject);
  });
  return {
    release: async () => {
      if (child.exitCode === null) child.stdin!.end('release\n');
      return exited;
    },
  };
}
