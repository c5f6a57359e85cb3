// A newcomer's first start: three agents come up at once on an EMPTY image cache and build the
// built-in images together. Every node must end up with byte-identical images (same digests) and
// run a pod. (A race here once gave one node a half-written pause binary that segfaulted.)
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { loadState } from '../../agent/sandbox/sandbox.ts';
import { e2eSandbox, sandboxClient, until } from '../helpers/sandbox.ts';
import { tempDir } from '../helpers/server.ts';

const NAME = e2eSandbox('images');
const cache = tempDir('image-cache');
const { skiff, k, json, onNode } = sandboxClient(NAME);

before(async () => {
  const up = await skiff(['sandbox', 'up', '--name', NAME, '--nodes', '3', '--image-cache', cache]);
  assert.equal(up.exitCode, 0, up.all);
});
after(async () => {
  const down = await skiff(['sandbox', 'down', '--name', NAME]);
  rmSync(cache, { recursive: true, force: true });
  assert.equal(down.exitCode, 0, down.all);
});

/** `image name → digest` of the built-in images in one node's containerd. */
async function digests(node: string): Promise<Record<string, string>> {
  const s = loadState(NAME)!;
  const socket = join(s.dir, node, 'containerd', 'containerd.sock');
  const r = await onNode(node, ['ctr', '-a', socket, '-n', 'k8s.io', 'images', 'ls']);
  assert.equal(r.exitCode, 0, r.all);
  const out: Record<string, string> = {};
  for (const line of String(r.stdout).split('\n').slice(1)) {
    const [ref, , digest] = line.trim().split(/\s+/);
    if (ref?.startsWith('skiff.local/')) out[ref] = digest;
  }
  return out;
}

test('three nodes started together on an empty image cache hold identical images and each runs a pod', {
  timeout: 300_000,
}, async () => {
  const nodes = ['node1', 'node2', 'node3'];
  const seen = await Promise.all(nodes.map(digests));
  for (const ref of ['skiff.local/pause:3.10', 'skiff.local/busybox:1.36'])
    assert.match(seen[0][ref] ?? '', /^sha256:[0-9a-f]{64}$/, `${ref} on node1`);
  for (const [i, d] of seen.entries()) assert.deepEqual(d, seen[0], `${nodes[i]}'s images differ from node1's`);

  for (const node of nodes) {
    const made = await k(
      ['apply', '-f', '-'],
      `apiVersion: v1
kind: Pod
metadata: {name: on-${node}}
spec:
  nodeName: ${node}
  containers: [{name: c, image: skiff.local/busybox:1.36, command: [sleep, "3600"]}]
`,
    );
    assert.equal(made.exitCode, 0, made.all);
  }
  for (const node of nodes)
    await until(
      `pod on-${node} running without restarts`,
      async () => {
        const p = await json(['get', 'pod', `on-${node}`]);
        const c = p.status?.containerStatuses?.[0];
        return p.status?.phase === 'Running' && c?.ready && c.restartCount === 0;
      },
      120_000,
    );
});
