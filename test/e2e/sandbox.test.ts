// `skiff sandbox` end to end: three Ready nodes, a pod made through CRI on a node serves HTTP,
// node credentials are confined, bad join tokens are refused, and `down` leaves nothing behind,
// also after an `up` killed halfway.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { SKIFF } from '../helpers/server.ts';
import { e2eSandbox, until } from '../helpers/sandbox.ts';
import { loadState, type SandboxState } from '../../agent/sandbox/sandbox.ts';
import { blackholes, netnsList, STATE_ROOT } from '../../agent/sandbox/host.ts';
import { cniCacheUnder, mountsUnder, pidsMentioning } from '../../agent/sandbox/cleanup.ts';
import { CriClient } from '../../agent/cri/client.ts';
import { readdirSync, mkdirSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { buildImage, layoutTar } from '../../agent/images/oci.ts';
import { tar } from '../../agent/images/tar.ts';

const NAME = e2eSandbox('e2e');
/** A second sandbox beside the first, for the isolation check. */
const SECOND = e2eSandbox('e2e2');
/** The sandbox whose `up` is killed halfway. */
const HALF = e2eSandbox('half');

/** A `docker save` archive: manifest.json, config and one layer tar. */
function dockerSave(tag: string): Buffer {
  const layer = tar([{ type: 'file', path: 'hello.txt', data: Buffer.from('from docker save\n') }]);
  const diff = 'sha256:' + createHash('sha256').update(layer).digest('hex');
  const config = Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      config: { Cmd: ['/hello'] },
      rootfs: { type: 'layers', diff_ids: [diff] },
    }),
  );
  const cfgName = createHash('sha256').update(config).digest('hex') + '.json';
  return tar([
    {
      type: 'file',
      path: 'manifest.json',
      data: Buffer.from(JSON.stringify([{ Config: cfgName, RepoTags: [tag], Layers: ['abc/layer.tar'] }])),
    },
    { type: 'file', path: cfgName, data: config },
    { type: 'dir', path: 'abc' },
    { type: 'file', path: 'abc/layer.tar', data: layer },
  ]);
}

const skiff = (args: string[], timeout = 300_000) => execa(SKIFF, args, { reject: false, all: true, timeout });
const rootLinks = async () =>
  String((await execa('ip', ['-br', 'link'])).stdout)
    .split('\n')
    .map((l) => l.split(/\s+/)[0])
    .sort();
const rootTables = async () => String((await execa('nft', ['list', 'tables'], { reject: false })).stdout).trim();

function rangesOfOthers(self: string): Set<string> {
  const out = new Set<string>();
  for (const f of existsSync(STATE_ROOT) ? readdirSync(STATE_ROOT) : []) {
    if (f === `${self}.json`) continue;
    try {
      for (const r of JSON.parse(readFileSync(join(STATE_ROOT, f), 'utf8')).ranges ?? []) out.add(r);
    } catch {
      /* gone */
    }
  }
  return out;
}

async function assertGone(s: SandboxState, linksBefore: string[], tablesBefore: string) {
  const ns = await netnsList();
  for (const n of s.namespaces) assert.ok(!ns.includes(n), `namespace ${n} left behind`);
  const routes = await blackholes();
  const others = rangesOfOthers(s.name);
  for (const r of s.ranges) assert.ok(!routes.includes(r) || others.has(r), `blackhole ${r} left behind`);
  assert.deepEqual(await rootLinks(), linksBefore, 'no link added to the root namespace');
  assert.equal(await rootTables(), tablesBefore, 'no nft table added to the root namespace');
  assert.deepEqual(pidsMentioning(s.dir), [], 'no process left');
  assert.deepEqual(mountsUnder(s.dir), [], 'no mount left');
  assert.deepEqual(cniCacheUnder(s.dir), [], 'no CNI cache entry naming its namespaces left');
  assert.ok(!existsSync(s.dir), 'state dir removed');
  assert.equal(loadState(s.name), null, 'state file removed');
}

test('skiff sandbox: up --nodes 3, pods through CRI, node credentials, down leaves nothing', {
  timeout: 600_000,
}, async () => {
  const linksBefore = await rootLinks();
  const tablesBefore = await rootTables();
  const up = await skiff(['sandbox', 'up', '--name', NAME, '--nodes', '3']);
  const s = loadState(NAME);
  let downOut = '';
  try {
    assert.equal(up.exitCode, 0, up.all);
    assert.ok(s);
    const k = (args: string[]) => skiff(['sandbox', 'kubectl', '--name', NAME, '--', ...args]);
    const nodes = await k(['get', 'nodes', '--no-headers']);
    assert.equal(nodes.exitCode, 0, nodes.all);
    const lines = String(nodes.stdout).trim().split('\n');
    assert.equal(lines.length, 3);
    for (const l of lines) assert.match(l, /^node\d\s+Ready\s/);
    const node = JSON.parse(String((await k(['get', 'node', 'node2', '-o', 'json'])).stdout));
    assert.equal(node.spec.podCIDR, '10.244.2.0/24');
    assert.match(node.status.nodeInfo.containerRuntimeVersion, /^containerd:\/\/1\./);
    assert.deepEqual(node.status.addresses[0], { type: 'InternalIP', address: s!.nodes[1].ip });
    assert.ok(Number(node.status.capacity.cpu) >= 1);
    const lease = JSON.parse(
      String((await k(['get', 'lease', 'node2', '-n', 'kube-node-lease', '-o', 'json'])).stdout),
    );
    assert.equal(lease.spec.holderIdentity, 'node2');
    assert.equal(lease.metadata.ownerReferences[0].uid, node.metadata.uid);
    await until(
      'the lease to be renewed (every 10 s)',
      async () => {
        const now = await k(['get', 'lease', 'node2', '-n', 'kube-node-lease', '-o', 'json']);
        return JSON.parse(String(now.stdout)).spec.renewTime !== lease.spec.renewTime;
      },
      20_000,
    );

    // A pod on node3 (sandbox and container made through CRI by its agent) serves HTTP to its node.
    const n3 = s!.nodes[2];
    const made = await execa(SKIFF, ['sandbox', 'kubectl', '--name', NAME, '--', 'apply', '-f', '-'], {
      input:
        'apiVersion: v1\nkind: Pod\nmetadata: {name: web}\nspec:\n  nodeName: node3\n  containers: [{name: ' +
        'httpd, image: skiff.local/busybox:1.36, command: [httpd, -f, -p, "80", -h, /var/www]}]\n',
      reject: false,
      all: true,
    });
    assert.equal(made.exitCode, 0, made.all);
    let ip = '';
    for (let i = 0; i < 120 && !ip; i++) {
      ip = String((await k(['get', 'pod', 'web', '-o', 'jsonpath={.status.podIP}'])).stdout);
      if (!ip) await new Promise((r) => setTimeout(r, 250));
    }
    assert.match(ip, /^10\.244\.3\.\d+$/);
    // containerd caches the pod's CNI results in the host's directory, naming its namespace under
    // the sandbox's: `down` removes them (assertGone).
    assert.ok(cniCacheUnder(s!.dir).length >= 1, 'the running pod has CNI cache entries');
    let body = '';
    for (let i = 0; i < 50 && !body; i++) {
      body = String(
        (
          await skiff([
            'sandbox',
            'exec',
            '--name',
            NAME,
            n3.name,
            '--',
            'busybox',
            'wget',
            '-q',
            '-O',
            '-',
            `http://${ip}/`,
          ])
        ).stdout,
      );
      if (!body) await new Promise((r) => setTimeout(r, 100));
    }
    assert.match(body, /skiff busybox httpd/);

    // Images: an OCI layout and a `docker save` archive imported on node1 are pulled by node2
    // through the server's registry; a truncated archive is refused and changes nothing.
    const work = join(s!.dir, 'images-test');
    mkdirSync(work, { recursive: true });
    const hello = buildImage({
      name: 'skiff.local/hello:1',
      entries: [{ type: 'file', path: 'hello.txt', data: Buffer.from('hello\n') }],
      cmd: ['/hello'],
    });
    writeFileSync(join(work, 'hello.tar'), layoutTar([hello]));
    writeFileSync(join(work, 'docker.tar'), dockerSave('example/hello-docker:2'));
    writeFileSync(join(work, 'trunc.tar'), layoutTar([hello]).subarray(0, 3000));
    const img = (args: string[]) =>
      skiff(['sandbox', 'exec', '--name', NAME, 'node1', '--', SKIFF, 'image', ...args, '--kubeconfig', s!.kubeconfig]);
    const imp = await img(['import', join(work, 'hello.tar')]);
    assert.equal(imp.exitCode, 0, imp.all);
    assert.match(String(imp.stdout), /imported skiff\.local\/hello:1 sha256:[0-9a-f]{64}/);
    assert.match(String(imp.stderr), /100% of/);
    const dock = await img(['import', join(work, 'docker.tar')]);
    assert.match(String(dock.stdout), /imported docker\.io\/example\/hello-docker:2/, dock.all);
    const bad = await img(['import', join(work, 'trunc.tar')]);
    assert.notEqual(bad.exitCode, 0);
    assert.match(String(bad.stderr), /refused: not a valid image tarball: truncated archive/);
    const ls = String((await img(['ls'])).stdout)
      .trim()
      .split('\n');
    assert.equal(ls.length, 3, 'header and the two good images only: ' + ls.join('|'));
    const cri2 = new CriClient(join(s!.dir, 'node2', 'containerd', 'containerd.sock'));
    try {
      const pulled = await cri2.pullImage('skiff.local/hello:1');
      assert.match(pulled.image_ref, /^sha256:/);
      assert.deepEqual((await cri2.imageStatus('skiff.local/hello:1')).image!.repo_tags, ['skiff.local/hello:1']);
      // The docker.io mirror appears once the agent has seen the import (it polls every 15 s).
      let ref = '';
      for (let i = 0; i < 40 && !ref; i++) {
        ref = await cri2.pullImage('docker.io/example/hello-docker:2').then(
          (r) => r.image_ref,
          () => '',
        );
        if (!ref) await new Promise((r) => setTimeout(r, 1000));
      }
      assert.match(ref, /^sha256:/, 'a docker.io image is pulled from the Skiff registry, not from the internet');
    } finally {
      cri2.close();
    }

    // A node's credential is confined to its own Node and Lease.
    const creds = JSON.parse(readFileSync(join(s!.dir, 'node1', 'credentials.json'), 'utf8'));
    const asNode = (args: string[]) =>
      skiff([
        'sandbox',
        'exec',
        '--name',
        NAME,
        'node1',
        '--',
        'kubectl',
        '--server',
        s!.server!,
        '--certificate-authority',
        join(s!.dir, 'node1', 'ca.crt'),
        '--token',
        creds.token,
        ...args,
      ]);
    await execa('sh', ['-c', `cat > ${join(s!.dir, 'node1', 'ca.crt')}`], { input: creds.ca });
    assert.equal((await asNode(['label', 'node', 'node1', 'mine=yes'])).exitCode, 0);
    const other = await asNode(['label', 'node', 'node2', 'mine=no']);
    assert.match(String(other.all), /Forbidden.*system:node:node1/);
    assert.match(String((await asNode(['get', 'secrets', '-A'])).all), /Forbidden/);

    // A second sandbox coexists, and taking it down leaves the first one working.
    const second = await skiff(['sandbox', 'up', '--name', SECOND, '--nodes', '1']);
    try {
      assert.equal(second.exitCode, 0, second.all);
      const s2 = loadState(SECOND)!;
      assert.notEqual(s2.nodes[0].ip, s!.nodes[0].ip, 'its own underlay');
      assert.match(
        String((await skiff(['sandbox', 'kubectl', '--name', SECOND, '--', 'get', 'nodes', '--no-headers'])).stdout),
        /^node1\s+Ready/,
      );
    } finally {
      assert.equal((await skiff(['sandbox', 'down', '--name', SECOND])).exitCode, 0);
    }
    const routes = await blackholes();
    for (const r of s!.ranges) assert.ok(routes.includes(r), `${r} still guards the first sandbox`);
    assert.match(String((await k(['get', 'nodes', '--no-headers'])).stdout), /node3\s+Ready/);

    // Joining with a wrong secret or a wrong CA hash is refused, with a clear message and a non-zero exit.
    const token = readFileSync(join(s!.dir, 'server', 'token'), 'utf8').trim();
    const badSecret = token.replace(/:[0-9a-f]+$/, ':' + '0'.repeat(48));
    const badHash = token.replace(/^skiff-v1:[0-9a-f]{64}/, 'skiff-v1:' + 'a'.repeat(64));
    for (const [tok, msg] of [
      [badSecret, /rejected the join token/],
      [badHash, /does not match the join token/],
      ['garbage', /malformed join token/],
    ] as const) {
      const r = await skiff(
        [
          'sandbox',
          'exec',
          '--name',
          NAME,
          'node2',
          '--',
          SKIFF,
          'agent',
          '--server',
          s!.server!,
          '--token',
          tok,
          '--node-name',
          'intruder',
          '--pod-cidr',
          '10.244.99.0/24',
          '--data-dir',
          join(s!.dir, 'intruder'),
        ],
        60_000,
      );
      assert.notEqual(r.exitCode, 0);
      assert.match(String(r.all), msg);
    }
    assert.match(String((await k(['get', 'nodes', '-o', 'name'])).stdout), /^(?!.*intruder)/s);

    // A pod on node1, whose agent and containerd live on until `down`: removed through CRI there.
    const idle = await k([
      'run',
      'idle',
      '--image=skiff.local/busybox:1.36',
      '--overrides',
      '{"spec":{"nodeName":"node1"}}',
      '--',
      'sleep',
      '100000',
    ]);
    assert.equal(idle.exitCode, 0, idle.all);
    await until(
      'the pod on node1 running',
      async () => String((await k(['get', 'pod', 'idle', '-o', 'jsonpath={.status.phase}'])).stdout) === 'Running',
      60_000,
    );

    // node3's agent and containerd die (SIGKILL): its pod is never torn down through CNI, and
    // `down` still leaves nothing behind, the CNI cache entries naming the pod's namespace included.
    assert.ok(cniCacheUnder(join(s!.dir, 'node3')).length > 0, 'the pod on node3 has its entries');
    const ctrd3 = Number(readFileSync(join(s!.dir, 'node3', 'containerd', 'containerd.pid'), 'utf8'));
    for (const pid of [s!.pids.find((p) => p.role === 'agent-node3')!.pid, ctrd3]) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* gone with the other already */
      }
    }
  } finally {
    const down = await skiff(['sandbox', 'down', '--name', NAME]);
    downOut = String(down.all);
    assert.equal(down.exitCode, 0, down.all);
  }
  await assertGone(s!, linksBefore, tablesBefore);
  // Its agent stopped first (so it starts nothing again), with containerd left running for this.
  assert.match(downOut, /node1: removed 1 pod sandbox/);
});

test('skiff sandbox: an up killed halfway is cleaned by down', { timeout: 300_000 }, async () => {
  const linksBefore = await rootLinks();
  const tablesBefore = await rootTables();
  const up = execa(SKIFF, ['sandbox', 'up', '--name', HALF, '--nodes', '2'], { reject: false });
  const end = Date.now() + 60_000;
  while (Date.now() < end && !(loadState(HALF)?.pids ?? []).some((p) => p.role === 'server'))
    await new Promise((r) => setTimeout(r, 20));
  up.kill('SIGKILL');
  await up;
  const s = loadState(HALF);
  assert.ok(s && s.namespaces.length >= 2, 'up got far enough to leave things behind');
  const down = await skiff(['sandbox', 'down', '--name', HALF]);
  assert.equal(down.exitCode, 0, down.all);
  await assertGone(s!, linksBefore, tablesBefore);
});
