// The node's subcommands: `skiff agent` and `skiff sandbox` (a cluster in network namespaces).
import { parseArgs } from 'node:util';
import { hostname } from 'node:os';
import { fail, parse } from '../../controlplane/shared/cli.ts';
import { DEFAULT_SHARDS, MAX_SHARDS } from '../proxy/model.ts';

export async function agent(args: string[]) {
  const v = parse(args, {
    server: { type: 'string' },
    token: { type: 'string' },
    'token-file': { type: 'string' },
    'node-name': { type: 'string', default: hostname() },
    'node-ip': { type: 'string' },
    'data-dir': { type: 'string', default: '/var/lib/skiff/agent' },
    'pod-cidr': { type: 'string' },
    'container-runtime-endpoint': { type: 'string' },
    'image-cache': { type: 'string', default: '/var/lib/skiff/images' },
    mtu: { type: 'string' },
    iface: { type: 'string' },
    backend: { type: 'string', default: 'vxlan' },
    'vxlan-tx-offload': { type: 'string', default: 'auto' },
    'proxy-shards': { type: 'string', default: String(DEFAULT_SHARDS) },
    'run-dir': { type: 'string', default: '/run/skiff' },
    'cluster-dns': { type: 'string', default: '10.96.0.10' },
    'cluster-domain': { type: 'string', default: 'cluster.local' },
    'dns-upstream': { type: 'string' },
    'dns-ttl': { type: 'string', default: '5' },
    'metrics-bind-address': { type: 'string', default: '127.0.0.1:10249' },
    'ingress-http-port': { type: 'string', default: '80' },
    'ingress-https-port': { type: 'string', default: '443' },
    'ingress-metrics-port': { type: 'string', default: '10254' },
    uninstall: { type: 'boolean', default: false },
    'keep-data': { type: 'boolean', default: false },
    'local-path-root': { type: 'string', default: '/var/lib/skiff/local-path' },
  });
  for (const f of ['ingress-http-port', 'ingress-https-port', 'ingress-metrics-port'])
    if (!/^\d{1,5}$/.test(String(v[f])) || Number(v[f]) > 65535)
      fail(`agent: --${f} must be a port number (0 turns it off)`);
  const dnsTtl = Number(v['dns-ttl']);
  if (!Number.isInteger(dnsTtl) || dnsTtl < 0)
    fail(`agent: --dns-ttl must be a whole number of seconds, not "${v['dns-ttl']}"`);
  if (v.backend !== 'vxlan' && v.backend !== 'host-gw')
    fail(`agent: --backend must be vxlan or host-gw, not "${v.backend}"`);
  if (!['auto', 'on', 'off'].includes(String(v['vxlan-tx-offload'])))
    fail(`agent: --vxlan-tx-offload must be auto, on or off, not "${v['vxlan-tx-offload']}"`);
  const proxyShards = Number(v['proxy-shards']);
  if (!/^\d+$/.test(String(v['proxy-shards'])) || proxyShards < 1 || proxyShards > MAX_SHARDS)
    fail(`agent: --proxy-shards must be a whole number from 1 to ${MAX_SHARDS}, not "${v['proxy-shards']}"`);
  if (v.uninstall) {
    const { uninstall } = await import('../host/uninstall.ts');
    return uninstall({
      dataDirs: [String(v['data-dir'])],
      extraPaths: [String(v['image-cache']), String(v['local-path-root'])],
      runDir: String(v['run-dir']),
      keepData: !!v['keep-data'],
      log: (s) => console.log(s),
    }).catch((e) => fail(`agent --uninstall: ${(e as Error).message}`));
  }
  if (!v.server) fail('agent: --server is required');
  for (const u of String(v.server).split(',')) {
    let url: URL | null = null;
    try {
      url = new URL(u.trim());
    } catch {
      /* refused below */
    }
    if (url?.protocol !== 'https:' || url.pathname.replace(/\/+$/, '') !== '')
      fail(`agent: --server: expected https://HOST:PORT[,https://HOST:PORT...], got "${u}"`);
  }
  if (!v.token && v['token-file']) {
    const { readFileSync } = await import('node:fs');
    try {
      v.token = readFileSync(String(v['token-file']), 'utf8').trim();
    } catch (e) {
      fail(`agent: --token-file: ${(e as Error).message}`);
    }
  }
  if (!v.token) fail('agent: --token or --token-file is required (run `skiff token` on the server)');
  const { runAgent } = await import('../agent.ts');
  (await import('../host/paths.ts')).writePidFile(String(v['data-dir']));
  const { JoinError } = await import('../join.ts');
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
      mtu: v.mtu ? Number(v.mtu) : undefined,
      iface: v.iface as string | undefined,
      backend: v.backend as 'vxlan' | 'host-gw',
      vxlanTxOffload: v['vxlan-tx-offload'] as 'auto' | 'on' | 'off',
      proxyShards,
      runDir: String(v['run-dir']),
      dns: {
        address: String(v['cluster-dns']),
        domain: String(v['cluster-domain']),
        upstreams: v['dns-upstream'] as string | undefined,
        ttl: dnsTtl,
      },
      metricsAddress: String(v['metrics-bind-address']),
      ingressHttpPort: Number(v['ingress-http-port']),
      ingressHttpsPort: Number(v['ingress-https-port']),
      ingressMetricsPort: Number(v['ingress-metrics-port']),
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

export async function sandbox(args: string[]) {
  const sb = await import('../sandbox/sandbox.ts');
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
    sb.loadState(name) ??
    fail(
      sb.claimOf(name)
        ? `"${name}" is a test's claim on namespaces and routes, not a sandbox (skiff sandbox down --name ${name})`
        : `no sandbox named "${name}" (skiff sandbox up --name ${name})`,
    );
  switch (sub) {
    case 'up': {
      const v = parse(own, {
        ...nameOpt,
        nodes: { type: 'string', default: '3' },
        servers: { type: 'string', default: '1' },
        'server-arg': { type: 'string', multiple: true },
        'image-cache': { type: 'string', default: sb.DEFAULT_IMAGE_CACHE },
        'agent-arg': { type: 'string', multiple: true },
      });
      try {
        const s = await sb.sandboxUp({
          name: String(v.name),
          nodes: Number(v.nodes),
          servers: Number(v.servers),
          serverArgs: (v['server-arg'] as string[] | undefined) ?? [],
          imageCache: String(v['image-cache']),
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
    case 'list':
      for (const line of sb.listStates()) console.log(line);
      return;
    default:
      fail(
        'usage: skiff sandbox up [--name N] [--nodes 3] [--servers 1] [--server-arg=--FLAG=V ...] ' +
          '[--agent-arg=--FLAG=V ...] [--image-cache DIR] | down [--name N] | kubectl [--name N] -- ARGS | ' +
          'exec [--name N] NODE|outside -- CMD | list',
      );
  }
}

/** `skiff install server|agent [--no-start] -- FLAGS`: a systemd unit running `skiff server|agent FLAGS`. */
export async function install(args: string[]) {
  const dash = args.indexOf('--');
  const own = dash >= 0 ? args.slice(0, dash) : args;
  const flags = dash >= 0 ? args.slice(dash + 1) : [];
  const v = parseArgs({
    args: own,
    options: { 'no-start': { type: 'boolean' } },
    allowPositionals: true,
    strict: true,
  });
  const role = v.positionals[0];
  if ((role !== 'server' && role !== 'agent') || v.positionals.length !== 1)
    fail('usage: skiff install server|agent [--no-start] -- FLAGS (the flags of `skiff server` or `skiff agent`)');
  const { install: run } = await import('../host/install.ts');
  await run(role, flags, !v.values['no-start'], (s) => console.log(s)).catch((e) =>
    fail(`install ${role}: ${(e as Error).message}`),
  );
}
