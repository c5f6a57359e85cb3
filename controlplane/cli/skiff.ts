// The `skiff` command: one binary, subcommands for each role.
import { parseArgs, type ParseArgsOptionsConfig } from 'node:util';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULTS, startServer } from '../server/server.ts';
import { kubeconfig } from '../server/kubeconfig.ts';
import { TokenAuth } from '../api/auth.ts';

const USAGE = `usage: skiff <command> [flags]

commands:
  server       run the control plane (API server on the embedded store or etcd)
  kubeconfig   print the admin kubeconfig of a server's data dir
  help         show this text
`;

function fail(msg: string): never {
  process.stderr.write(`skiff: ${msg}\n`);
  process.exit(1);
}

function parse(args: string[], options: ParseArgsOptionsConfig) {
  try {
    return parseArgs({ args, options, strict: true, allowPositionals: false }).values as Record<string, string | boolean | undefined>;
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
  });
  const port = Number(v['secure-port']);
  if (!Number.isInteger(port) || port < 0 || port > 65535) fail(`--secure-port: invalid port "${v['secure-port']}"`);
  const s = await startServer({
    dataDir: String(v['data-dir']), bindAddress: String(v['bind-address']), securePort: port,
    advertiseAddress: v['advertise-address'] as string | undefined,
    writeKubeconfig: v['write-kubeconfig'] ? String(v['write-kubeconfig']) : undefined,
    datastoreEndpoint: String(v['datastore-endpoint'] ?? ''),
    datastoreCafile: v['datastore-cafile'] as string | undefined, datastoreCertfile: v['datastore-certfile'] as string | undefined,
    datastoreKeyfile: v['datastore-keyfile'] as string | undefined,
    serviceCidr: String(v['service-cidr']), clusterCidr: String(v['cluster-cidr']), serviceNodePortRange: String(v['service-node-port-range']),
  }).catch((e) => fail(`server: ${(e as Error).message}`));
  console.log(`skiff server listening on ${s.url} (store: ${s.store.kind})`);
  if (v['write-kubeconfig']) console.log(`kubeconfig: ${v['write-kubeconfig']}   (export KUBECONFIG=${v['write-kubeconfig']})`);
  const shutdown = async () => { await s.stop().catch(() => {}); process.exit(0); };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
}

function printKubeconfig(args: string[]) {
  const v = parse(args, { 'data-dir': { type: 'string', default: DEFAULTS.dataDir }, server: { type: 'string', default: 'https://127.0.0.1:6443' } });
  const dir = String(v['data-dir']);
  let ca: string;
  try { ca = readFileSync(join(dir, 'tls', 'ca.crt'), 'utf8'); } catch { fail(`no server state in ${dir} (run "skiff server" first)`); }
  process.stdout.write(kubeconfig(String(v.server), ca, new TokenAuth(join(dir, 'tokens.csv')).adminToken()));
}

const [cmd, ...rest] = process.argv.slice(2);
switch (cmd) {
  case 'server': await server(rest); break;
  case 'kubeconfig': printKubeconfig(rest); break;
  case 'help': case '--help': case '-h': case undefined: process.stdout.write(USAGE); break;
  default: fail(`unknown command "${cmd}"\n${USAGE}`);
}
