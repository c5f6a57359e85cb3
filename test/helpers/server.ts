// Starts a real `skiff server` for a test: in this process (fast) or as a child process (for
// kill -9), on 127.0.0.1 with an ephemeral port and a temp data dir; and runs the real kubectl.
import { mkdtempSync, rmSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa, type ResultPromise } from 'execa';
import { startServer, type RunningServer, type ServerConfig } from '../../controlplane/server/server.ts';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '../..');
export const SKIFF = join(ROOT, 'bin/skiff');

export interface TestServer {
  server: RunningServer;
  dir: string;
  kubeconfig: string;
  kubectl(
    args: string[],
    opts?: { input?: string; timeout?: number },
  ): Promise<{ stdout: string; stderr: string; exitCode: number }>;
  stop(): Promise<void>;
}

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `skiff-${prefix}-`));
}

export function kubectlWith(kubeconfig: string) {
  return async (args: string[], opts: { input?: string; timeout?: number } = {}) => {
    const r = await execa('kubectl', args, {
      env: { KUBECONFIG: kubeconfig, HOME: dirname(kubeconfig) },
      input: opts.input,
      reject: false,
      timeout: opts.timeout ?? 60_000,
    });
    return { stdout: String(r.stdout), stderr: String(r.stderr), exitCode: r.exitCode ?? -1 };
  };
}

export async function startTestServer(extra: Partial<ServerConfig> = {}): Promise<TestServer> {
  const dir = tempDir('server');
  const kubeconfig = join(dir, 'admin.kubeconfig');
  const server = await startServer({
    dataDir: join(dir, 'data'),
    bindAddress: '127.0.0.1',
    securePort: 0,
    writeKubeconfig: kubeconfig,
    serviceCidr: '10.96.0.0/12',
    clusterCidr: '10.244.0.0/16',
    serviceNodePortRange: '30000-32767',
    ...extra,
  });
  return {
    server,
    dir,
    kubeconfig,
    kubectl: kubectlWith(kubeconfig),
    async stop() {
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A `skiff server` child process; `kill()` sends SIGKILL. */
export async function spawnServer(
  dataDir: string,
  port: number,
  extraArgs: string[] = [],
): Promise<{ proc: ResultPromise; kubeconfig: string; url: string }> {
  const kubeconfig = join(dataDir, 'admin.kubeconfig');
  // Without --agent-port the server takes the secure port + 1 for the agent channel: a port no
  // one reserved, which another test's connection may hold as its source port. The kernel picks.
  const channel = extraArgs.includes('--agent-port') ? [] : ['--agent-port', '0'];
  const proc = execa(
    SKIFF,
    [
      'server',
      '--data-dir',
      join(dataDir, 'data'),
      '--bind-address',
      '127.0.0.1',
      '--secure-port',
      String(port),
      '--write-kubeconfig',
      kubeconfig,
      ...channel,
      ...extraArgs,
    ],
    { reject: false, all: true },
  );
  const url = `https://127.0.0.1:${port}`;
  // Generous: on a loaded machine a server on etcd takes seconds to make its built-in objects.
  const deadline = Date.now() + 90_000;
  for (;;) {
    if (proc.exitCode !== null && proc.exitCode !== undefined) throw new Error(`server exited: ${(await proc).all}`);
    try {
      const r = await fetchInsecure(`${url}/readyz`);
      if (r === 'ok') break;
    } catch {
      /* not up yet */
    }
    if (Date.now() > deadline) {
      proc.kill('SIGKILL');
      const out = String((await proc).all ?? '').slice(-2000);
      throw new Error(`server did not become ready within 90 s; its output:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { proc, kubeconfig, url };
}

export type SpawnedServer = Awaited<ReturnType<typeof spawnServer>>;

/**
 * Starts several servers at the same moment. Either all come up, or every one that did is
 * killed before the error is thrown: a failed start leaves no process behind to hang the run.
 */
export async function spawnServers(specs: { dataDir: string; port: number; args?: string[] }[]) {
  const started = await Promise.allSettled(specs.map((s) => spawnServer(s.dataDir, s.port, s.args)));
  const up = started.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const failed = started.find((r) => r.status === 'rejected');
  if (failed) {
    await Promise.all(up.map((s) => stopSpawned(s)));
    throw failed.reason;
  }
  return up;
}

/** SIGKILLs a spawned server and waits for it to be gone. */
export async function stopSpawned(s: SpawnedServer): Promise<void> {
  s.proc.kill('SIGKILL');
  await s.proc;
}

import { request } from 'node:https';
function fetchInsecure(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(url, { rejectUnauthorized: false, timeout: 1000 }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve(body));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Reads the admin token and CA from a kubeconfig written by the server. */
export function credentials(kubeconfig: string): { server: string; token: string; ca: string } {
  const text = readFileSync(kubeconfig, 'utf8');
  const server = text.match(/server: (\S+)/)![1];
  const token = text.match(/token: (\S+)/)![1];
  const ca = Buffer.from(text.match(/certificate-authority-data: (\S+)/)![1], 'base64').toString();
  return { server, token, ca };
}

export { writeFileSync };
