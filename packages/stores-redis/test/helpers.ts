import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Cluster, type Redis } from 'ioredis';

type Client = Redis | Cluster;

const masters = (client: Client): Redis[] => (client instanceof Cluster ? client.nodes('master') : [client]);

async function keysOf(client: Client, prefix: string): Promise<string[]> {
  const out: string[] = [];
  const pattern = `${prefix.replace(/[*?[\]\\]/g, '\\$&')}*`;
  for (const node of masters(client)) {
    let cursor = '0';
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      cursor = next;
      out.push(...keys);
    } while (cursor !== '0');
  }
  return out;
}

/** Deletes every key of a namespace. */
export async function dropPrefix(client: Client, prefix: string): Promise<void> {
  for (const key of await keysOf(client, prefix)) await client.del(key);
}

/** Everything a namespace holds, as text: every key and its value. */
export async function dumpPrefix(client: Client, prefix: string): Promise<string> {
  const parts: string[] = [];
  for (const key of await keysOf(client, prefix)) {
    const type = await client.type(key);
    let value: unknown;
    if (type === 'hash') value = await client.hgetall(key);
    else if (type === 'set') value = await client.smembers(key);
    else if (type === 'list') value = await client.lrange(key, 0, -1);
    else if (type === 'zset') value = await client.zrange(key, 0, -1, 'WITHSCORES');
    else value = await client.get(key);
    parts.push(key, JSON.stringify(value));
  }
  return parts.join('\n');
}

/** A redis-server of the test's own on loopback, for tests that pause it or count what it receives; `password`: `--requirepass`. */
export async function startServer(port = 15000 + Math.floor(Math.random() * 2000), password?: string): Promise<LocalCluster> {
  const auth = password === undefined ? [] : ['--requirepass', password];
  const proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', ...auth], {
    stdio: 'ignore',
  });
  const pid = await waitForServer(port, password);
  if (pid !== proc.pid) {
    proc.kill('SIGKILL');
    throw new Error(`port ${port} is taken by another redis-server`);
  }
  return { ports: [port], stop: () => proc.kill('SIGKILL') };
}

/** Waits until a redis-server answers on `port`; returns its process id. */
async function waitForServer(port: number, password?: string): Promise<number> {
  const auth = password === undefined ? [] : ['--no-auth-warning', '-a', password];
  for (let i = 0; i < 100; i++) {
    try {
      const info = execFileSync('redis-cli', ['-p', String(port), ...auth, 'info', 'server'], { encoding: 'utf8', stdio: 'pipe' });
      const pid = /process_id:(\d+)/.exec(info);
      if (pid !== null) return Number(pid[1]);
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`redis-server on port ${port} did not start`);
}

export interface LocalCluster {
  ports: number[];
  stop(): void;
}

/** Three redis-server masters on loopback, joined with redis-cli --cluster create. */
export async function startCluster(base = 17000 + Math.floor(Math.random() * 2000) * 3): Promise<LocalCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'stowage-cluster-'));
  const ports = [base, base + 1, base + 2];
  const procs = ports.map((port) =>
    spawn(
      'redis-server',
      [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--cluster-enabled',
        'yes',
        '--cluster-config-file',
        `nodes-${port}.conf`,
        '--save',
        '',
        '--appendonly',
        'no',
        '--protected-mode',
        'no',
      ],
      { cwd: dir, stdio: 'ignore' },
    ),
  );
  for (const port of ports) await waitForServer(port);
  execFileSync('redis-cli', ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '0', '--cluster-yes'], {
    stdio: 'pipe',
  });
  for (let i = 0; i < 100; i++) {
    const state = execFileSync('redis-cli', ['-p', String(ports[0]), 'cluster', 'info'], { encoding: 'utf8' });
    if (state.includes('cluster_state:ok')) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    ports,
    stop() {
      for (const p of procs) p.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
