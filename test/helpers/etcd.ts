// Starts real etcd members (Debian's etcd-server) on loopback in a temp dir, for store tests.
import { execa, type ResultPromise } from 'execa';
import { createServer } from 'node:net';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from './server.ts';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

export interface EtcdCluster {
  endpoints: string[];
  members: { name: string; proc: ResultPromise | null; client: number; peer: number; dir: string }[];
  kill(i: number): Promise<void>;
  stop(): Promise<void>;
}

async function waitHealthy(endpoint: string, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const r = await execa('etcdctl', ['--endpoints', endpoint, 'endpoint', 'health'], {
      reject: false,
      env: { ETCDCTL_API: '3' },
    });
    if (r.exitCode === 0) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`etcd at ${endpoint} not healthy`);
}

export async function startEtcd(size = 1): Promise<EtcdCluster> {
  const base = tempDir('etcd');
  const members = [] as EtcdCluster['members'];
  for (let i = 0; i < size; i++)
    members.push({
      name: `m${i}`,
      proc: null,
      client: await freePort(),
      peer: await freePort(),
      dir: join(base, `m${i}`),
    });
  const initial = members.map((m) => `${m.name}=http://127.0.0.1:${m.peer}`).join(',');
  for (const m of members) {
    m.proc = execa(
      'etcd',
      [
        '--name',
        m.name,
        '--data-dir',
        m.dir,
        '--listen-client-urls',
        `http://127.0.0.1:${m.client}`,
        '--advertise-client-urls',
        `http://127.0.0.1:${m.client}`,
        '--listen-peer-urls',
        `http://127.0.0.1:${m.peer}`,
        '--initial-advertise-peer-urls',
        `http://127.0.0.1:${m.peer}`,
        '--initial-cluster',
        initial,
        '--initial-cluster-state',
        'new',
        '--initial-cluster-token',
        `skiff-test-${process.pid}`,
        '--log-level',
        'error',
        '--logger',
        'zap',
      ],
      { reject: false, stdio: 'ignore', env: { ETCD_UNSUPPORTED_ARCH: process.arch === 'x64' ? '' : process.arch } },
    );
  }
  const endpoints = members.map((m) => `http://127.0.0.1:${m.client}`);
  const kill = async (i: number) => {
    const p = members[i].proc;
    if (p && p.exitCode === null) {
      p.kill('SIGKILL');
      await p;
    }
    members[i].proc = null;
  };
  const stop = async () => {
    for (let i = 0; i < members.length; i++) await kill(i);
    rmSync(base, { recursive: true, force: true });
  };
  // A member that never gets healthy must not outlive the test: stop them all, then fail.
  const health = await Promise.allSettled(endpoints.map((e) => waitHealthy(e)));
  const sick = health.find((h) => h.status === 'rejected');
  if (sick) {
    await stop();
    throw sick.reason;
  }
  return { endpoints, members, kill, stop };
}
