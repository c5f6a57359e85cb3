// The control plane's subcommands: `skiff server`, `up` (server and agent on one host), `token`,
// `kubeconfig` and `image`.
import { createLog } from '../shared/log.ts';
import { parseArgs } from 'node:util';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { hostname } from 'node:os';
import { DEFAULTS, startServer } from '../server/server.ts';
import { kubeconfig } from '../server/kubeconfig.ts';
import { TokenAuth } from '../api/auth.ts';
import { fail, parse } from '../shared/cli.ts';
import { writePidFile } from '../../agent/host/paths.ts';

export async function server(args: string[]) {
  const v = parse(args, {
    'data-dir': { type: 'string', default: DEFAULTS.dataDir },
    'bind-address': { type: 'string', default: DEFAULTS.bindAddress },
    'secure-port': { type: 'string', default: String(DEFAULTS.securePort) },
    'advertise-address': { type: 'string' },
    'write-kubeconfig': { type: 'string', default: DEFAULTS.writeKubeconfig },
    'datastore-endpoint': { type: 'string', default: '' },
    'datastore-cafile': { type: 'string' },
    'datastore-certfile': { type: 'string' },
    'datastore-keyfile': { type: 'string' },
    token: { type: 'string' },
    'service-cidr': { type: 'string', default: DEFAULTS.serviceCidr },
    'cluster-cidr': { type: 'string', default: DEFAULTS.clusterCidr },
    'service-node-port-range': { type: 'string', default: DEFAULTS.serviceNodePortRange },
    'agent-port': { type: 'string' },
    'node-monitor-grace-period': { type: 'string', default: '40' },
    'default-toleration-seconds': { type: 'string', default: '300' },
    'lb-pool': { type: 'string', default: '' },
    'local-path-root': { type: 'string', default: '/var/lib/skiff/local-path' },
    'cluster-dns': { type: 'string' },
  });
  const port = Number(v['secure-port']);
  writePidFile(String(v['data-dir']));
  const seconds = (flag: string) => {
    const n = Number(v[flag]);
    if (!Number.isInteger(n) || n < 1) fail(`--${flag}: expected a whole number of seconds, got "${v[flag]}"`);
    return n;
  };
  if (!Number.isInteger(port) || port < 0 || port > 65535) fail(`--secure-port: invalid port "${v['secure-port']}"`);
  if (v.token && !v['datastore-endpoint'])
    fail('server: --token needs --datastore-endpoint (servers of one cluster share it through their datastore)');
  const s = await startServer({
    dataDir: String(v['data-dir']),
    bindAddress: String(v['bind-address']),
    securePort: port,
    advertiseAddress: v['advertise-address'] as string | undefined,
    writeKubeconfig: v['write-kubeconfig'] ? String(v['write-kubeconfig']) : undefined,
    datastoreEndpoint: String(v['datastore-endpoint'] ?? ''),
    datastoreCafile: v['datastore-cafile'] as string | undefined,
    datastoreCertfile: v['datastore-certfile'] as string | undefined,
    datastoreKeyfile: v['datastore-keyfile'] as string | undefined,
    token: v.token as string | undefined,
    serviceCidr: String(v['service-cidr']),
    clusterCidr: String(v['cluster-cidr']),
    serviceNodePortRange: String(v['service-node-port-range']),
    agentPort: v['agent-port'] !== undefined ? Number(v['agent-port']) : undefined,
    nodeMonitorGracePeriodSeconds: seconds('node-monitor-grace-period'),
    defaultTolerationSeconds: seconds('default-toleration-seconds'),
    lbPool: String(v['lb-pool'] ?? ''),
    localPathRoot: String(v['local-path-root']),
    clusterDns: v['cluster-dns'] as string | undefined,
  }).catch((e) => fail(`server: ${(e as Error).message}`));
  const log = createLog();
  log(`skiff server listening on ${s.url} (store: ${s.store.kind}); agent channel on port ${s.channelPort}`);
  if (v['write-kubeconfig']) log(`kubeconfig: ${v['write-kubeconfig']}   (export KUBECONFIG=${v['write-kubeconfig']})`);
  const shutdown = async () => {
    await s.stop().catch(() => {});
    process.exit(0);
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
}

export function printKubeconfig(args: string[]) {
  const v = parse(args, {
    'data-dir': { type: 'string', default: DEFAULTS.dataDir },
    server: { type: 'string', default: 'https://127.0.0.1:6443' },
  });
  const dir = String(v['data-dir']);
  let ca: string;
  try {
    ca = readFileSync(join(dir, 'tls', 'ca.crt'), 'utf8');
  } catch {
    fail(`no server state in ${dir} (run "skiff server" first)`);
  }
  process.stdout.write(kubeconfig(String(v.server), ca, new TokenAuth(join(dir, 'tokens.csv')).adminToken()));
}

export async function up(args: string[]) {
  const v = parse(args, {
    'data-dir': { type: 'string', default: '/var/lib/skiff' },
    'bind-address': { type: 'string', default: '0.0.0.0' },
    'secure-port': { type: 'string', default: '6443' },
    'advertise-address': { type: 'string' },
    'node-name': { type: 'string', default: hostname() },
    'node-ip': { type: 'string' },
    'pod-cidr': { type: 'string', default: '10.244.0.0/24' },
    'write-kubeconfig': { type: 'string', default: DEFAULTS.writeKubeconfig },
    'local-path-root': { type: 'string', default: '/var/lib/skiff/local-path' },
    'run-dir': { type: 'string', default: '/run/skiff' },
  });
  const dir = String(v['data-dir']);
  writePidFile(dir);
  const s = await startServer({
    dataDir: join(dir, 'server'),
    bindAddress: String(v['bind-address']),
    securePort: Number(v['secure-port']),
    advertiseAddress: v['advertise-address'] as string | undefined,
    writeKubeconfig: String(v['write-kubeconfig']),
    serviceCidr: DEFAULTS.serviceCidr,
    clusterCidr: DEFAULTS.clusterCidr,
    serviceNodePortRange: DEFAULTS.serviceNodePortRange,
    localPathRoot: String(v['local-path-root']),
  }).catch((e) => fail(`up: ${(e as Error).message}`));
  console.log(`skiff server listening on ${s.url}`);
  const { runAgent } = await import('../../agent/agent.ts');
  const a = await runAgent({
    server: s.url,
    token: s.joinToken,
    nodeName: String(v['node-name']),
    nodeIp: (v['node-ip'] ?? v['advertise-address']) as string | undefined,
    dataDir: join(dir, 'agent'),
    runDir: String(v['run-dir']),
    podCidr: String(v['pod-cidr']),
    imageCache: join(dir, 'images'),
  }).catch((e) => fail(`up: agent: ${(e as Error).message}`));
  console.log(`node ${v['node-name']} joined; kubeconfig: ${v['write-kubeconfig']}`);
  const stop = async () => {
    await a.stop().catch(() => {});
    await s.stop().catch(() => {});
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

export function token(args: string[]) {
  const v = parse(args, { 'data-dir': { type: 'string', default: DEFAULTS.dataDir } });
  try {
    process.stdout.write(readFileSync(join(String(v['data-dir']), 'token'), 'utf8'));
  } catch {
    fail(`no join token in ${v['data-dir']} (has "skiff server" run there?)`);
  }
}

export async function image(args: string[]) {
  const { imageImport, imageList, targetFromKubeconfig } = await import('./image.ts');
  const [sub, ...rest] = args;
  const v = parseArgs({
    args: rest,
    options: { kubeconfig: { type: 'string', default: process.env.KUBECONFIG ?? DEFAULTS.writeKubeconfig } },
    allowPositionals: true,
    strict: true,
  });
  try {
    const t = targetFromKubeconfig(String(v.values.kubeconfig));
    if (sub === 'import') {
      if (v.positionals.length !== 1) fail('usage: skiff image import FILE [--kubeconfig F]');
      await imageImport(
        v.positionals[0],
        t,
        (s) => console.log(s),
        (s) => process.stderr.write(s + '\n'),
      );
    } else if (sub === 'ls') await imageList(t, (s) => console.log(s));
    else fail('usage: skiff image import FILE | skiff image ls');
  } catch (e) {
    fail(`image ${sub}: ${(e as Error).message}`);
  }
}

/** `skiff reset`: undoes what `skiff up` / `skiff server` (and the agent beside it) did to this host. */
export async function reset(args: string[]) {
  const v = parse(args, {
    'data-dir': { type: 'string', default: '/var/lib/skiff' },
    'write-kubeconfig': { type: 'string', default: DEFAULTS.writeKubeconfig },
    'local-path-root': { type: 'string', default: '/var/lib/skiff/local-path' },
    'run-dir': { type: 'string', default: '/run/skiff' },
    'keep-data': { type: 'boolean', default: false },
  });
  const dir = String(v['data-dir']);
  const { uninstall } = await import('../../agent/host/uninstall.ts');
  await uninstall({
    dataDirs: [dir, join(dir, 'server'), join(dir, 'agent')],
    extraPaths: [String(v['write-kubeconfig']), join(dir, 'images'), String(v['local-path-root'])],
    runDir: String(v['run-dir']),
    keepData: !!v['keep-data'],
    log: (s) => console.log(s),
  }).catch((e) => fail(`reset: ${(e as Error).message}`));
}
