// The `skiff` command: one binary, subcommands for each role.
import { parseArgs, type ParseArgsOptionsConfig } from 'node:util';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { hostname } from 'node:os';
import { DEFAULTS, startServer } from '../server/server.ts';
import { kubeconfig } from '../server/kubeconfig.ts';
import { TokenAuth } from '../api/auth.ts';

const USAGE = `usage: skiff <command> [flags]

commands:
  server       run the control plane (API server on the embedded store or etcd)
  up           server and agent together on this host (a VM or a machine dedicated to Skiff)
  agent        run a node: join a server, run containerd, register the Node
  token        print the join token of a server's data dir
  kubeconfig   print the admin kubeconfig of a server's data dir
  image        import FILE | ls: images for every node, served by the server's registry
  sandbox      up | down | kubectl | exec | list: a multi-node cluster in network namespaces
  help         show this text
`;

function fail(msg: string): never {
  process.stderr.write(`skiff: ${msg}\n`);
  process.exit(1);
}

function parse(args: string[], options: ParseArgsOptionsConfig) {
  try {
    return parseArgs({ args, options, strict: true, allowPositionals: false }).values as Record<
      string,
      string | boolean | undefined
    >;
  } catch (e) {
    fail((e as Error).message.split('\n')[0]);
  }
}

async function server(args: string[]) {
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
    'service-cidr': { type: 'string', default: DEFAULTS.serviceCidr },
    'cluster-cidr': { type: 'string', default: DEFAULTS.clusterCidr },
    'service-node-port-range': { type: 'string', default: DEFAULTS.serviceNodePortRange },
    'agent-port': { type: 'string' },
    'node-monitor-grace-period': { type: 'string', default: '40' },
    'default-toleration-seconds': { type: 'string', default: '300' },
    'lb-pool': { type: 'string', default: '' },
    'local-path-root': { type: 'string', default: '/var/lib/skiff/local-path' },
  });
  const port = Number(v['secure-port']);
  const seconds = (flag: string) => {
    const n = Number(v[flag]);
    if (!Number.isInteger(n) || n < 1) fail(`--${flag}: expected a whole number of seconds, got "${v[flag]}"`);
    return n;
  };
  if (!Number.isInteger(port) || port < 0 || port > 65535) fail(`--secure-port: invalid port "${v['secure-port']}"`);
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
    serviceCidr: String(v['service-cidr']),
    clusterCidr: String(v['cluster-cidr']),
    serviceNodePortRange: String(v['service-node-port-range']),
    agentPort: v['agent-port'] !== undefined ? Number(v['agent-port']) : undefined,
    nodeMonitorGracePeriodSeconds: seconds('node-monitor-grace-period'),
    defaultTolerationSeconds: seconds('default-toleration-seconds'),
    lbPool: String(v['lb-pool'] ?? ''),
    localPathRoot: String(v['local-path-root']),
  }).catch((e) => fail(`server: ${(e as Error).message}`));
  console.log(`skiff server listening on ${s.url} (store: ${s.store.kind}); agent channel on port ${s.channelPort}`);
  if (v['write-kubeconfig'])
    console.log(`kubeconfig: ${v['write-kubeconfig']}   (export KUBECONFIG=${v['write-kubeconfig']})`);
  const shutdown = async () => {
    await s.stop().catch(() => {});
    process.exit(0);
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
}

function printKubeconfig(args: string[]) {
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

async function agent(args: string[]) {
  const v = parse(args, {
    server: { type: 'string' },
    token: { type: 'string' },
    'node-name': { type: 'string', default: hostname() },
    'node-ip': { type: 'string' },
    'data-dir': { type: 'string', default: '/var/lib/skiff/agent' },
    'pod-cidr': { type: 'string' },
    'container-runtime-endpoint': { type: 'string' },
    'image-cache': { type: 'string', default: '/var/lib/skiff/images' },
    'ingress-http-port': { type: 'string', default: '80' },
    'ingress-https-port': { type: 'string', default: '443' },
    'ingress-metrics-port': { type: 'string', default: '10254' },
    mtu: { type: 'string' },
    iface: { type: 'string' },
    backend: { type: 'string', default: 'vxlan' },
    'run-dir': { type: 'string', default: '/run/skiff' },
  });
  if (v.backend !== 'vxlan' && v.backend !== 'host-gw')
    fail(`agent: --backend must be vxlan or host-gw, not "${v.backend}"`);
  if (!v.server) fail('agent: --server is required');
  if (!v.token) fail('agent: --token is required (run `skiff token` on the server)');
  for (const f of ['ingress-http-port', 'ingress-https-port', 'ingress-metrics-port'])
    if (!/^\d{1,5}$/.test(String(v[f])) || Number(v[f]) > 65535)
      fail(`agent: --${f} must be a port number (0 turns it off)`);
  const { runAgent } = await import('../../agent/agent.ts');
  const { JoinError } = await import('../../agent/join.ts');
  try {
    const a = await runAgent({
      server: String(v.server),
      token: String(v.token),
      nodeName: String(v['node-name']),
      nodeIp: v['node-ip'] as string | undefined,
      dataDir: String(v['data-dir']),
      podCidr: v['pod-cidr'] ? String(v['pod-cidr']) : undefined,
      endpoint: v['container-runtime-endpoint'] as string | undefined,
      imageCache: String(v['image-cache']),
      ingressHttpPort: Number(v['ingress-http-port']),
      ingressHttpsPort: Number(v['ingress-https-port']),
      ingressMetricsPort: Number(v['ingress-metrics-port']),
      mtu: v.mtu ? Number(v.mtu) : undefined,
      iface: v.iface as string | undefined,
      backend: v.backend as 'vxlan' | 'host-gw',
      runDir: String(v['run-dir']),
    });
    const stop = async () => {
      await a.stop().catch(() => {});
      process.exit(0);
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  } catch (e) {
    if (e instanceof JoinError) fail(`agent: ${e.message}`);
    fail(`agent: ${(e as Error).message}`);
  }
}

async function up(args: string[]) {
  const v = parse(args, {
    'data-dir': { type: 'string', default: '/var/lib/skiff' },
    'bind-address': { type: 'string', default: '0.0.0.0' },
    'secure-port': { type: 'string', default: '6443' },
    'advertise-address': { type: 'string' },
    'node-name': { type: 'string', default: hostname() },
    'pod-cidr': { type: 'string', default: '10.244.0.0/24' },
    'write-kubeconfig': { type: 'string', default: DEFAULTS.writeKubeconfig },
  });
  const dir = String(v['data-dir']);
  const s = await startServer({
    dataDir: join(dir, 'server'),
    bindAddress: String(v['bind-address']),
    securePort: Number(v['secure-port']),
    advertiseAddress: v['advertise-address'] as string | undefined,
    writeKubeconfig: String(v['write-kubeconfig']),
    serviceCidr: DEFAULTS.serviceCidr,
    clusterCidr: DEFAULTS.clusterCidr,
    serviceNodePortRange: DEFAULTS.serviceNodePortRange,
  }).catch((e) => fail(`up: ${(e as Error).message}`));
  console.log(`skiff server listening on ${s.url}`);
  const { runAgent } = await import('../../agent/agent.ts');
  const a = await runAgent({
    server: s.url,
    token: s.joinToken,
    nodeName: String(v['node-name']),
    nodeIp: v['advertise-address'] as string | undefined,
    dataDir: join(dir, 'agent'),
    runDir: '/run/skiff',
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

function token(args: string[]) {
  const v = parse(args, { 'data-dir': { type: 'string', default: DEFAULTS.dataDir } });
  try {
    process.stdout.write(readFileSync(join(String(v['data-dir']), 'token'), 'utf8'));
  } catch {
    fail(`no join token in ${v['data-dir']} (has "skiff server" run there?)`);
  }
}

async function sandbox(args: string[]) {
  const sb = await import('../../agent/sandbox/sandbox.ts');
  const [sub, ...rest] = args;
  const dash = rest.indexOf('--');
  const own = dash >= 0 ? rest.slice(0, dash) : rest;
  const tail = dash >= 0 ? rest.slice(dash + 1) : [];
  const nameOpt = { name: { type: 'string' as const, default: 'skiff' } };
  const exec = async (ns: string, argv: string[]) => {
    const { execa } = await import('execa');
    const r = await execa('nsenter', [`--net=/run/netns/${ns}`, ...argv], { stdio: 'inherit', reject: false });
    process.exitCode = r.exitCode ?? 1;
  };
  const state = (name: string) =>
    sb.loadState(name) ?? fail(`no sandbox named "${name}" (skiff sandbox up --name ${name})`);
  switch (sub) {
    case 'up': {
      const v = parse(own, {
        ...nameOpt,
        nodes: { type: 'string', default: '3' },
        'server-arg': { type: 'string', multiple: true },
        'agent-arg': { type: 'string', multiple: true },
      });
      try {
        const s = await sb.sandboxUp({
          name: String(v.name),
          nodes: Number(v.nodes),
          serverArgs: (v['server-arg'] as string[] | undefined) ?? [],
          agentArgs: (v['agent-arg'] as string[] | undefined) ?? [],
        });
        console.log(`sandbox "${s.name}" is up: ${s.nodes.map((n) => `${n.name} ${n.ip}`).join(', ')}`);
        console.log(`try: skiff sandbox kubectl${s.name === 'skiff' ? '' : ` --name ${s.name}`} -- get nodes -o wide`);
      } catch (e) {
        fail(`sandbox up: ${(e as Error).message}`);
      }
      return process.exit(0);
    }
    case 'down': {
      const v = parse(own, nameOpt);
      try {
        await sb.sandboxDown(String(v.name));
      } catch (e) {
        fail(`sandbox down: ${(e as Error).message}`);
      }
      return;
    }
    case 'kubectl': {
      const s = state(String(parse(own, nameOpt).name));
      return exec(s.nodes[0].ns, ['kubectl', '--kubeconfig', s.kubeconfig, ...tail]);
    }
    case 'exec': {
      const v = parseArgs({ args: own, options: nameOpt, allowPositionals: true, strict: true });
      const node = v.positionals[0] ?? fail('sandbox exec: which node? (skiff sandbox exec NODE -- CMD)');
      if (!tail.length) fail('sandbox exec: no command after --');
      const s = state(String(v.values.name));
      let ns: string;
      try {
        ns = sb.execNamespace(s, node);
      } catch (e) {
        fail((e as Error).message);
      }
      return exec(ns, tail);
    }
    case 'list': {
      const { readdirSync, existsSync } = await import('node:fs');
      const { STATE_ROOT } = await import('../../agent/sandbox/host.ts');
      for (const f of existsSync(STATE_ROOT) ? readdirSync(STATE_ROOT) : []) {
        const s = sb.loadState(f.replace(/\.json$/, ''));
        if (s?.nodes) console.log(`${s.name}\t${s.nodes.length} node(s)\t${s.server ?? ''}`);
      }
      return;
    }
    default:
      fail(
        'usage: skiff sandbox up [--name N] [--nodes 3] [--server-arg=--FLAG=V ...] [--agent-arg=--FLAG=V ...] | down [--name N] | kubectl [--name N] -- ARGS | exec [--name N] NODE|outside -- CMD | list',
      );
  }
}

async function image(args: string[]) {
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

const [cmd, ...rest] = process.argv.slice(2);
switch (cmd) {
  case 'server':
    await server(rest);
    break;
  case 'agent':
    await agent(rest);
    break;
  case 'up':
    await up(rest);
    break;
  case 'token':
    token(rest);
    break;
  case 'sandbox':
    await sandbox(rest);
    break;
  case 'image':
    await image(rest);
    break;
  case 'kubeconfig':
    printKubeconfig(rest);
    break;
  case 'help':
  case '--help':
  case '-h':
  case undefined:
    process.stdout.write(USAGE);
    break;
  default:
    fail(`unknown command "${cmd}"\n${USAGE}`);
}
