// The ingress end to end on a 3-node `skiff sandbox`, driven by real kubectl, every request made
// from the sandbox's outside host: two apps routed by host and by path through each node's IP,
// the status listing the nodes, TLS with SNI picking each host's certificate, the 308, 404 and
// 503 answers, a WebSocket echo, and a rolling update of a backend under constant load with zero
// failed requests.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { ROOT } from '../helpers/server.ts';
import { agentNodeFlags } from '../helpers/node-flags.ts';
import { e2eSandbox, sandboxClient, until } from '../helpers/sandbox.ts';
import { loadState, type SandboxState } from '../../agent/sandbox/sandbox.ts';
import { selfSigned } from '../../agent/ingress/certs.ts';

const NAME = e2eSandbox('ing');
const NODE = join(ROOT, 'node_modules/.bin/node');
let s: SandboxState;
const { skiff, k, onNode } = sandboxClient(NAME);
const dir = mkdtempSync(join(tmpdir(), 'ing-e2e-'));

const app = (name: string) =>
  `
apiVersion: apps/v1
kind: Deployment
metadata: {name: ${name}}
spec:
  replicas: 2
  selector: {matchLabels: {app: ${name}}}
  template:
    metadata: {labels: {app: ${name}}}
    spec:
      containers:
      - name: httpd
        image: skiff.local/busybox:1.36
        env: [{name: VERSION, value: "1"}]
        command: [sh, -c, 'mkdir -p /www/a /www/b /www/cgi-bin && printf "#!/bin/sh\\nsleep ` +
  `5\\necho Content-Type: text/plain\\necho\\necho slow\\n" > /www/cgi-bin/slow && chmod +x ` +
  `/www/cgi-bin/slow && for f in index.html a/x ab b/x b/y; do echo "${name} $HOSTNAME" > /www/$f; ` +
  `done && exec httpd -f -p 80 -h /www']
        readinessProbe: {httpGet: {path: /, port: 80}, periodSeconds: 1}
        # Keep serving while the ingresses learn that the pod is terminating.
        lifecycle: {preStop: {exec: {command: [sleep, "5"]}}}
---
apiVersion: v1
kind: Service
metadata: {name: ${name}}
spec:
  selector: {app: ${name}}
  ports: [{name: http, port: 80, targetPort: 80}]
`;

const ingress = `
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: apps}
spec:
  tls:
  - {hosts: [alpha.test], secretName: alpha-tls}
  - {hosts: [beta.test], secretName: beta-tls}
  rules:
  - host: alpha.test
    http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: alpha, port: {number: 80}}}}]}
  - host: beta.test
    http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: beta, port: {name: http}}}}]}
  - host: both.test
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: beta, port: {number: 80}}}}
      - {path: /a, pathType: Prefix, backend: {service: {name: alpha, port: {number: 80}}}}
      - {path: /b, pathType: Prefix, backend: {service: {name: beta, port: {number: 80}}}}
      - {path: /b/x, pathType: Exact, backend: {service: {name: alpha, port: {number: 80}}}}
      - {path: /none, pathType: Prefix, backend: {service: {name: nobody, port: {number: 80}}}}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: edge
  annotations: {skiff.io/proxy-read-timeout: 1s}
spec:
  rules:
  - host: edge.test
    http:
      paths:
      - {path: /refused, pathType: Prefix, backend: {service: {name: refused, port: {number: 80}}}}
      - {path: /cgi-bin, pathType: Prefix, backend: {service: {name: beta, port: {number: 80}}}}
---
apiVersion: v1
kind: Service
metadata: {name: refused}
spec:
  selector: {app: alpha}
  ports: [{port: 80, targetPort: 81}]
---
apiVersion: v1
kind: Service
metadata: {name: nobody}
spec:
  selector: {app: nobody}
  ports: [{port: 80}]
`;

/** A WebSocket echo in busybox sh behind `nc -ll -e` (no image here has a WebSocket server). */
const wsEcho = `
apiVersion: v1
kind: ConfigMap
metadata: {name: ws-echo}
data:
  ws.sh: |
    #!/bin/sh
    # A WebSocket echo for small frames, in busybox sh: the RFC 6455 handshake, then every masked
    # client frame sent back unmasked with the same opcode; a close frame is answered and ends it.
    key=
    while IFS= read -r line; do
      line=$(printf '%s' "$line" | tr -d '\\r')
      [ -z "$line" ] && break
      case "$line" in [Ss]ec-[Ww]eb[Ss]ocket-[Kk]ey:*) key=$(echo "\${line#*:}" | tr -d ' ') ;; esac
    done
    acc=$(printf '%s258EAFA5-E914-47DA-95CA-C5AB0DC85B11' "$key" | sha1sum | cut -d' ' -f1 | xxd -r -p | base64)
    printf 'HTTP/1.1 101 Switching Protocols\\r\\nUpgrade: websocket\\r\\nConnection: Upgrade\\r\\n'
    printf 'Sec-WebSocket-Accept: %s\\r\\n\\r\\n' "$acc"
    while :; do
      set -- $(dd bs=2 count=1 2>/dev/null | od -An -tu1)
      [ $# -lt 2 ] && exit 0
      op=$(($1 & 15)) len=$(($2 & 127))
      set -- $(dd bs=4 count=1 2>/dev/null | od -An -tu1)
      m0=$1 m1=$2 m2=$3 m3=$4
      out= i=0
      for b in $(dd bs=$len count=1 2>/dev/null | od -An -tu1 -v); do
        eval "k=\\$m$((i % 4))"
        out="$out\\\\$(printf '%03o' $((b ^ k)))"
        i=$((i + 1))
      done
      if [ $op -eq 8 ]; then printf '\\210\\000'; exit 0; fi
      printf "\\\\$(printf '%03o' $((128 | op)))\\\\$(printf '%03o' $len)$out"
    done
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: ws}
spec:
  replicas: 1
  selector: {matchLabels: {app: ws}}
  template:
    metadata: {labels: {app: ws}}
    spec:
      containers:
      - name: echo
        image: skiff.local/busybox:1.36
        command: [nc, -ll, -p, "8080", -e, /ws/ws.sh]
        volumeMounts: [{name: script, mountPath: /ws}]
      volumes: [{name: script, configMap: {name: ws-echo, defaultMode: 0755}}]
---
apiVersion: v1
kind: Service
metadata: {name: ws}
spec:
  selector: {app: ws}
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: ws}
spec:
  rules:
  - host: ws.test
    http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: ws, port: {number: 80}}}}]}
`;

/** A WebSocket client (the project's `ws`) on the outside host: the messages echoed back, in order. */
const WS_CLIENT = `
const W = require(process.argv[1]);
const ws = new W('ws://' + process.argv[2] + '/', { headers: { Host: 'ws.test' } });
const want = ['hello through the ingress', 'a second frame'];
const got = [];
ws.on('open', () => ws.send(want[0]));
ws.on('message', (m) => {
  got.push(String(m));
  if (got.length < want.length) ws.send(want[got.length]);
  else ws.close();
});
ws.on('close', () => { console.log(JSON.stringify(got)); process.exit(0); });
ws.on('error', (e) => { console.log(JSON.stringify({ error: e.message, got })); process.exit(1); });
setTimeout(() => { console.log(JSON.stringify({ timeout: true, got })); process.exit(1); }, 5000);
`;

/** curl from the outside host: status, body and (for https) the served certificate's subject. */
async function curl(url: string, host: string, ip: string) {
  const u = new URL(url);
  const port = u.port || (u.protocol === 'https:' ? '443' : '80');
  const r = await onNode('outside', [
    'curl',
    '-sk',
    '-v',
    '--max-time',
    '5',
    '--resolve',
    `${host}:${port}:${ip}`,
    '-w',
    '\n%{http_code} %{time_total}',
    url.replace(u.hostname, host),
  ]);
  const out = String(r.stdout).trimEnd().split('\n');
  const [status, seconds] = (out.pop() ?? '').split(' ').map(Number);
  return {
    status,
    /** The request's own duration as curl measured it (not the sandbox exec around it). */
    seconds,
    body: out.join('\n').trim(),
    subject: /subject: (.*)/.exec(String(r.stderr))?.[1] ?? '',
    location: /< location: (\S+)/i.exec(String(r.stderr))?.[1] ?? '',
  };
}

async function cert(cn: string) {
  await selfSigned({
    crt: join(dir, `${cn}.crt`),
    key: join(dir, `${cn}.key`),
    subject: `/CN=${cn}`,
    days: 1,
    dns: cn,
  });
  const r = await k([
    'create',
    'secret',
    'tls',
    `${cn.split('.')[0]}-tls`,
    '--cert',
    join(dir, `${cn}.crt`),
    '--key',
    join(dir, `${cn}.key`),
  ]);
  assert.equal(r.exitCode, 0, r.all);
}

before(async () => {
  const up = await skiff(['sandbox', 'up', '--name', NAME, '--nodes', '3']);
  assert.equal(up.exitCode, 0, up.all);
  s = loadState(NAME)!;
  assert.ok(s.outside, 'the sandbox has an outside host');
  await cert('alpha.test');
  await cert('beta.test');
  const r = await k(['apply', '-f', '-'], [app('alpha'), app('beta'), ingress].join('\n---\n'));
  assert.equal(r.exitCode, 0, r.all);
  for (const d of ['alpha', 'beta']) {
    const st = await k(['rollout', 'status', `deployment/${d}`, '--timeout=180s']);
    assert.equal(st.exitCode, 0, st.all);
  }
});

after(async () => {
  await skiff(['sandbox', 'down', '--name', NAME]);
  rmSync(dir, { recursive: true, force: true });
});

test('two apps by host and by path through every node IP; Exact beats Prefix; element-wise prefixes', async () => {
  const cases: [string, string, string][] = [
    ['alpha.test', '/', 'alpha'],
    ['beta.test', '/', 'beta'],
    ['both.test', '/a/x', 'alpha'],
    ['both.test', '/ab', 'beta'],
    ['both.test', '/b/x', 'alpha'],
    ['both.test', '/b/y', 'beta'],
  ];
  for (const n of s.nodes)
    for (const [host, path, want] of cases) {
      const r = await until(`${host}${path} via ${n.name}`, async () => {
        const a = await curl(`https://x${path}`, host, n.ip);
        return a.status === 200 && a.body.startsWith(`${want} `) ? a : undefined;
      });
      assert.match(r.body, new RegExp(`^${want} ${want}-`), `${host}${path} via ${n.name}`);
    }
});

test('every agent runs with bin/skiff’s agent_node_flags (short GC pauses for the ingress)', () => {
  const want = agentNodeFlags();
  assert.ok(want.includes('--max-semi-space-size=4'), want.join(' '));
  const agents = s.pids.filter((p) => p.role.startsWith('agent-'));
  assert.equal(agents.length, 3);
  for (const p of agents) {
    // nsenter and bin/skiff exec, so the PID the sandbox recorded is the agent's Node process.
    const argv = readFileSync(`/proc/${p.pid}/cmdline`, 'utf8').split('\0');
    for (const f of want) assert.ok(argv.includes(f), `${p.role}: ${argv.join(' ')}`);
  }
});

test('the Ingress status lists every node IP', async () => {
  const want = s.nodes
    .map((n) => n.ip)
    .sort()
    .join(' ');
  await until('status with the three node IPs', async () => {
    const r = await k(['get', 'ingress', 'apps', '-o', 'jsonpath={.status.loadBalancer.ingress[*].ip}']);
    return String(r.stdout).trim().split(' ').sort().join(' ') === want;
  });
});

test('TLS: SNI picks each host’s certificate; plain HTTP to a TLS host gets a 308', async () => {
  const ip = s.nodes[1].ip;
  assert.match((await curl('https://x/', 'alpha.test', ip)).subject, /CN ?= ?alpha\.test/);
  assert.match((await curl('https://x/', 'beta.test', ip)).subject, /CN ?= ?beta\.test/);
  assert.match((await curl('https://x/a/x', 'both.test', ip)).subject, /Skiff Ingress Default Certificate/);
  const r = await curl('http://x/a/x?q=1', 'alpha.test', ip);
  assert.equal(r.status, 308);
  assert.equal(r.location, 'https://alpha.test/a/x?q=1');
  assert.equal((await curl('http://x/a/x', 'both.test', ip)).status, 200, 'no TLS for both.test: no redirect');
});

test('404 without a matching rule, 503 for a backend without endpoints', async () => {
  const ip = s.nodes[2].ip;
  const nf = await curl('http://x/', 'unknown.test', ip);
  assert.equal(nf.status, 404);
  assert.equal(nf.body, 'no ingress rule matches');
  assert.equal((await curl('http://x/none', 'both.test', ip)).status, 503);
});

test('502 when the endpoints refuse, 504 when the upstream is slower than the read timeout annotation', async () => {
  const ip = s.nodes[0].ip;
  assert.equal((await curl('http://x/refused', 'edge.test', ip)).status, 502);
  const slow = await curl('http://x/cgi-bin/slow', 'edge.test', ip);
  assert.equal(slow.status, 504, slow.body);
  assert.ok(slow.seconds < 4, `answered after ${slow.seconds} s: the 1 s read timeout, not the 5 s CGI`);
});

test(
  'from the outside host: a smuggling attempt gets 400; ' + 'a slowloris client is cut off while others are served',
  async () => {
    const ip = s.nodes[1].ip;
    const smuggle = await onNode('outside', [
      'sh',
      '-c',
      `printf 'POST / HTTP/1.1\r\nHost: both.test\r\nContent-Length: 4\r\nTransfer-Encoding: ` +
        `chunked\r\n\r\n0\r\n\r\nGET /a/x HTTP/1.1\r\nHost: both.test\r\n\r\n' | busybox nc -w 5 ${ip} 80`,
    ]);
    assert.match(String(smuggle.stdout), /^HTTP\/1.1 400 /);
    assert.doesNotMatch(String(smuggle.stdout), /alpha/);
    const loris = execa(
      'nsenter',
      [
        `--net=/run/netns/${s.outside!.ns}`,
        'sh',
        '-c',
        `t0=$(date +%s); (printf 'GET / HTTP/1.1\r\nHost: both.test\r\n'; for i in $(seq 1 40); do sleep 1; ` +
          `printf "X-$i: y\r\n"; done) | busybox nc -w 60 ${ip} 80; echo; echo "elapsed $(($(date +%s) - t0))"`,
      ],
      { reject: false, timeout: 90_000 },
    );
    for (let i = 0; i < 3; i++) assert.equal((await curl('http://x/a/x', 'both.test', ip)).status, 200);
    const out = await loris;
    assert.match(String(out.stdout), /^HTTP\/1.1 408 /);
    // The connection closes at the header timeout (10 s), long before the 40 s of headers end.
    const elapsed = Number(/elapsed (\d+)/.exec(String(out.stdout))?.[1]);
    assert.ok(elapsed < 25, `cut off after ${elapsed} s (header timeout 10 s)`);
  },
);

test('a rotated TLS Secret is served without restarting anything', async () => {
  const ip = s.nodes[2].ip;
  await selfSigned({
    crt: join(dir, 'rotated.crt'),
    key: join(dir, 'rotated.key'),
    subject: '/O=rotated/CN=alpha.test',
    days: 1,
  });
  const yaml = await k([
    'create',
    'secret',
    'tls',
    'alpha-tls',
    '--cert',
    join(dir, 'rotated.crt'),
    '--key',
    join(dir, 'rotated.key'),
    '--dry-run=client',
    '-o',
    'yaml',
  ]);
  const r = await k(['apply', '-f', '-'], String(yaml.stdout));
  assert.equal(r.exitCode, 0, r.all);
  await until('the rotated certificate is served', async () =>
    /O ?= ?rotated/.test((await curl('https://x/', 'alpha.test', ip)).subject),
  );
});

test('a rolling update of the backend under constant load through the ingress: zero failed requests', async () => {
  const stop = join(dir, 'stop');
  const load = execa(
    'nsenter',
    [
      `--net=/run/netns/${s.outside!.ns}`,
      NODE,
      '--disable-warning=ExperimentalWarning',
      join(ROOT, 'test/helpers/ingress-load.ts'),
      s.nodes[0].ip,
      '80',
      'both.test',
      '/a/x',
      stop,
      '4',
    ],
    { reject: false, timeout: 300_000 },
  );
  try {
    await new Promise((r) => setTimeout(r, 2_000)); // load before the update starts
    const before = String((await k(['get', 'pods', '-l', 'app=alpha', '-o', 'name'])).stdout).trim();
    const set = await k(['set', 'env', 'deployment/alpha', 'VERSION=2']);
    assert.equal(set.exitCode, 0, set.all);
    const st = await k(['rollout', 'status', 'deployment/alpha', '--timeout=240s']);
    assert.equal(st.exitCode, 0, st.all);
    // Until the old pods are gone (their preStop sleep and termination included).
    await until('old pods gone', async () => {
      const now = String((await k(['get', 'pods', '-l', 'app=alpha', '-o', 'name'])).stdout).trim();
      return before.split('\n').every((p) => !now.includes(p));
    });
    await new Promise((r) => setTimeout(r, 2_000)); // and load on the new pods only
  } finally {
    writeFileSync(stop, '');
  }
  const r = await load;
  assert.equal(r.exitCode, 0, r.all ?? String(r.stderr));
  const summary = JSON.parse(String(r.stdout));
  console.log(`rolling update: ${summary.ok} requests answered in ${summary.seconds} s`, summary.bodies);
  assert.deepEqual(summary.failures, []);
  assert.ok(summary.ok > 50, `enough load: ${summary.ok}`);
  assert.ok(Object.keys(summary.bodies).length >= 4, `old and new pods answered: ${JSON.stringify(summary.bodies)}`);
});

test('a WebSocket echo through the ingress on every node, frames both ways', async () => {
  const r = await k(['apply', '-f', '-'], wsEcho);
  assert.equal(r.exitCode, 0, r.all);
  const st = await k(['rollout', 'status', 'deployment/ws', '--timeout=120s']);
  assert.equal(st.exitCode, 0, st.all);
  for (const n of s.nodes) {
    const out = await until(
      `a WebSocket echo through ${n.ip}`,
      async () => {
        const c = await onNode('outside', [NODE, '-e', WS_CLIENT, join(ROOT, 'node_modules/ws'), n.ip]);
        return c.exitCode === 0 && String(c.stdout).trim();
      },
      30_000,
    );
    assert.deepEqual(JSON.parse(out), ['hello through the ingress', 'a second frame']);
  }
});
