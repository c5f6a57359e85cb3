// `skiff sandbox up --servers N` (N > 1): N server hosts on the underlay (namespaces of their own,
// addresses .101 up), each running one member of an N-member etcd (Debian's etcd, on its own
// address) and one `skiff server` on that etcd. The first server makes the cluster; the others
// join it with its token. Every process is spawned inside its host's namespace and recorded in
// the state file before the next step, so `down` removes all of it.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { addNetns, inNetns, run } from './host.ts';
import { nsName, save, spawnIn, waitFor, type SandboxServer, type SandboxState } from './sandbox.ts';

const API_PORT = 6443;

/** Starts etcd and the servers; returns the join token the agents are given. */
export async function startServers(
  s: SandboxState,
  count: number,
  extra: string[],
  log: (m: string) => void,
): Promise<string> {
  const ul = nsName(s.name, 'ul');
  const hosts: SandboxServer[] = [];
  for (let i = 1; i <= count; i++) {
    const ip = `10.250.${s.index}.${100 + i}`;
    const h: SandboxServer = {
      name: `s${i}`,
      ns: nsName(s.name, `s${i}`),
      ip,
      url: `https://${ip}:${API_PORT}`,
      role: i === 1 ? 'server' : `server-s${i}`,
    };
    await addNetns(h.ns);
    s.namespaces.push(h.ns);
    hosts.push(h);
    s.servers = hosts;
    save(s);
    await run('ip', ['-n', ul, 'link', 'add', `vs${i}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', h.ns]);
    await run('ip', ['-n', ul, 'link', 'set', `vs${i}`, 'master', 'br0', 'up']);
    await run('ip', ['-n', h.ns, 'addr', 'add', `${ip}/24`, 'dev', 'eth0']);
    await run('ip', ['-n', h.ns, 'link', 'set', 'eth0', 'up']);
  }
  // etcd: one member per server host, all started before any is asked for its health.
  const cluster = hosts.map((h) => `${h.name}=http://${h.ip}:2380`).join(',');
  for (const h of hosts)
    spawnIn(
      s,
      `etcd-${h.name}`,
      h.ns,
      [
        '--name',
        h.name,
        '--data-dir',
        join(s.dir, `etcd-${h.name}`),
        '--listen-client-urls',
        `http://${h.ip}:2379`,
        '--advertise-client-urls',
        `http://${h.ip}:2379`,
        '--listen-peer-urls',
        `http://${h.ip}:2380`,
        '--initial-advertise-peer-urls',
        `http://${h.ip}:2380`,
        '--initial-cluster',
        cluster,
        '--initial-cluster-state',
        'new',
        '--initial-cluster-token',
        `skiff-sandbox-${s.name}`,
        '--log-level',
        'warn',
        '--logger',
        'zap',
      ],
      'etcd',
    );
  const endpoints = hosts.map((h) => `http://${h.ip}:2379`).join(',');
  await waitFor(
    async () =>
      (await inNetns(hosts[0].ns, 'etcdctl', ['--endpoints', endpoints, 'endpoint', 'health'])).exitCode === 0,
    60_000,
    `a healthy ${count}-member etcd`,
  );
  log(`etcd up on ${endpoints}`);

  const serverArgs = (h: SandboxServer, dataDir: string, kubeconfig: string) => [
    'server',
    '--data-dir',
    dataDir,
    '--bind-address',
    h.ip,
    '--secure-port',
    String(API_PORT),
    '--write-kubeconfig',
    kubeconfig,
    '--datastore-endpoint',
    endpoints,
    '--lb-pool',
    s.ranges[3],
    '--local-path-root',
    join(s.dir, 'local-path'),
    ...extra,
  ];
  const ready = (h: SandboxServer, kubeconfig: string) =>
    waitFor(
      async () =>
        (await inNetns(h.ns, 'kubectl', ['--kubeconfig', kubeconfig, '--server', h.url, 'get', '--raw', '/readyz']))
          .exitCode === 0,
      90_000,
      `the server on ${h.name}`,
    );
  // The first server makes the cluster (its data dir is `server`, as with one server).
  const [first, ...rest] = hosts;
  spawnIn(s, first.role, first.ns, serverArgs(first, join(s.dir, 'server'), s.kubeconfig));
  const tokenFile = join(s.dir, 'server', 'token');
  await waitFor(async () => existsSync(tokenFile), 60_000, 'the first server');
  await ready(first, s.kubeconfig);
  const token = readFileSync(tokenFile, 'utf8').trim();
  for (const h of rest)
    spawnIn(s, h.role, h.ns, [
      ...serverArgs(h, join(s.dir, `server-${h.name}`), join(s.dir, `admin-${h.name}.kubeconfig`)),
      '--token',
      token,
    ]);
  for (const h of rest) await ready(h, s.kubeconfig);
  s.server = hosts.map((h) => h.url).join(',');
  save(s);
  log(`servers up at ${s.server}`);
  return token;
}
