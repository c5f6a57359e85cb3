// kubectl exec, attach, cp and port-forward on `skiff sandbox up --nodes 2`, with the real
// kubectl: WebSocket (v5.channel.k8s.io) and SPDY-over-WebSocket from kubectl to the API
// server, the agent's tunnel, and CRI streaming (SPDY) from the agent to containerd.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { SKIFF } from '../helpers/server.ts';
import { e2eSandbox, sandboxClient, until } from '../helpers/sandbox.ts';

const NAME = e2eSandbox('strm');
const { skiff, k, onNode, podIP } = sandboxClient(NAME);
const scratch = mkdtempSync(join(tmpdir(), 'skiff-strm-'));
const forwards: ResultPromise[] = [];

before(async () => {
  const up = await skiff(['sandbox', 'up', '--name', NAME, '--nodes', '2']);
  assert.equal(up.exitCode, 0, up.all);
  const apply = await k(
    ['apply', '-f', '-'],
    `
apiVersion: v1
kind: Pod
metadata: {name: web}
spec:
  nodeName: node2
  containers:
  - name: web
    image: skiff.local/busybox:1.36
    command: [sh, -c, 'mkdir -p /www && echo hello-forward > /www/index.html && exec httpd -f -p 8080 -h /www']
---
apiVersion: v1
kind: Pod
metadata: {name: talk}
spec:
  nodeName: node1
  containers:
  - name: c
    image: skiff.local/busybox:1.36
    stdin: true
    stdinOnce: true
    command: [sh, -c, 'while read l; do echo got:$l; done; echo bye']
`,
  );
  assert.equal(apply.exitCode, 0, apply.all);
  await podIP('web');
  await podIP('talk');
});
after(async () => {
  for (const f of forwards) if (f.pid && f.exitCode === null) process.kill(f.pid);
  await Promise.allSettled(forwards);
  const down = await skiff(['sandbox', 'down', '--name', NAME]);
  assert.equal(down.exitCode, 0, down.all);
  rmSync(scratch, { recursive: true, force: true });
});

test('kubectl exec: stdout and stderr apart, the exit code, stdin to its end', async () => {
  const r = await k(['exec', 'web', '--', 'sh', '-c', 'echo out; echo err >&2; exit 3']);
  assert.equal(r.exitCode, 3, r.all);
  assert.equal(String(r.stdout), 'out');
  assert.match(String(r.stderr), /^err\ncommand terminated with exit code 3/);
  const cat = await k(['exec', '-i', 'web', '--', 'sh', '-c', 'wc -c; echo done'], 'x'.repeat(200_000));
  assert.equal(cat.exitCode, 0, cat.all);
  assert.deepEqual(
    String(cat.stdout)
      .split('\n')
      .map((l) => l.trim()),
    ['200000', 'done'],
  );
  const missing = await k(['exec', 'web', '-c', 'nope', '--', 'true']);
  assert.notEqual(missing.exitCode, 0);
  assert.match(String(missing.all), /container nope is not valid for pod web/);
});

test('kubectl exec -it: a terminal with its size, and the exit code', async () => {
  // script(1) gives kubectl a terminal; its stdin stays open so nothing stray is typed.
  const kubectl = `${SKIFF} sandbox kubectl --name ${NAME} -- exec -it web -- sh -c 'sleep 1; tty; stty size; exit 7'`;
  const r = await execa('sh', ['-c', `sleep 5 | script -qec "stty cols 91 rows 27; ${kubectl}" /dev/null`], {
    reject: false,
    all: true,
    timeout: 60_000,
  });
  const out = String(r.stdout).replace(/\r/g, '');
  assert.match(out, /\/dev\/pts\/\d+\n27 91\n/, out);
  assert.match(out, /command terminated with exit code 7/);
});

test('kubectl attach -i feeds a running container and ends with it', async () => {
  const r = await k(['attach', '-i', 'talk'], 'a\nb\n');
  assert.equal(r.exitCode, 0, r.all);
  assert.match(String(r.stdout), /got:a\ngot:b\nbye/);
});

test('kubectl cp copies a file in through exec (tar on stdin)', async () => {
  const data = randomBytes(300_000);
  const file = join(scratch, 'blob');
  writeFileSync(file, data);
  const cp = await k(['cp', file, 'web:/tmp/blob']);
  assert.equal(cp.exitCode, 0, cp.all);
  const sum = await k(['exec', 'web', '--', 'md5sum', '/tmp/blob']);
  assert.equal(String(sum.stdout).split(/\s+/)[0], createHash('md5').update(data).digest('hex'));
});

test('kubectl port-forward reaches the httpd, also for a large body; a closed port is an error', async () => {
  const make = await k([
    'exec',
    'web',
    '--',
    'sh',
    '-c',
    'dd if=/dev/urandom of=/www/big bs=1024 count=2048 2>/dev/null && md5sum /www/big',
  ]);
  const want = String(make.stdout).split(/\s+/)[0];
  const pf = execa(SKIFF, ['sandbox', 'kubectl', '--name', NAME, '--', 'port-forward', 'pod/web', '18080:8080'], {
    reject: false,
    all: true,
  });
  forwards.push(pf);
  // kubectl listens in node1's namespace, where `sandbox kubectl` runs it.
  await until(
    'the forward to answer',
    async () =>
      (await onNode('node1', ['busybox', 'wget', '-q', '-O', '-', 'http://127.0.0.1:18080/'])).stdout ===
      'hello-forward',
    30_000,
  );
  for (let i = 0; i < 3; i++)
    assert.equal(
      String((await onNode('node1', ['busybox', 'wget', '-q', '-O', '-', 'http://127.0.0.1:18080/'])).stdout),
      'hello-forward',
    );
  const big = await onNode('node1', ['sh', '-c', 'busybox wget -q -O - http://127.0.0.1:18080/big | md5sum']);
  assert.equal(String(big.stdout).split(/\s+/)[0], want);

  const closed = execa(SKIFF, ['sandbox', 'kubectl', '--name', NAME, '--', 'port-forward', 'pod/web', '18081:9999'], {
    reject: false,
    all: true,
  });
  forwards.push(closed);
  await until(
    'the second forward to listen',
    async () => (await onNode('node1', ['sh', '-c', 'ss -ltn | grep -q 127.0.0.1:18081'])).exitCode === 0,
    30_000,
  );
  // (busybox wget -T crashes on this busybox; timeout(1) bounds it instead.)
  await onNode('node1', ['busybox', 'timeout', '10', 'busybox', 'wget', '-q', '-O', '-', 'http://127.0.0.1:18081/']);
  const end = await closed;
  assert.match(String(end.all), /error forwarding port 9999 to pod .*connection refused/);
});
