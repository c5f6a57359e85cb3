// cniCacheUnder over a cache directory of made-up entries: which a sandbox's `down` removes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cniCacheUnder } from '../../agent/sandbox/cleanup.ts';

const NETNS = 'node1/containerd/state/io.containerd.grpc.v1.cri/netns/cni-1';
const entry = (sandbox: unknown) =>
  JSON.stringify({ kind: 'cniCacheV1', containerId: 'c', result: { interfaces: [{ name: 'eth0', sandbox }] } });

test('cniCacheUnder: the entries whose namespace lies under the directory, and nothing else', (t) => {
  const cache = mkdtempSync(join(tmpdir(), 'skiff-cni-cache-'));
  t.after(() => rmSync(cache, { recursive: true, force: true }));
  const files: Record<string, string> = {
    'skiff-mine-eth0': entry(`/var/lib/skiff/sandbox/ab/${NETNS}`),
    'cni-loopback-mine-lo': entry(`/var/lib/skiff/sandbox/ab/${NETNS}`),
    'skiff-longer-name-eth0': entry(`/var/lib/skiff/sandbox/abc/${NETNS}`),
    'skiff-escapes-eth0': entry(`/var/lib/skiff/sandbox/ab/../abc/${NETNS}`),
    'skiff-relative-eth0': entry(`var/lib/skiff/sandbox/ab/${NETNS}`),
    'skiff-number-eth0': entry(42),
    'skiff-host-pod-eth0': entry('/var/run/netns/cni-7'),
    'no-result': JSON.stringify({ kind: 'cniCacheV1' }),
    'not-json': '{"result": ',
  };
  for (const [f, text] of Object.entries(files)) writeFileSync(join(cache, f), text);
  mkdirSync(join(cache, 'a-directory'));
  assert.deepEqual(cniCacheUnder('/var/lib/skiff/sandbox/ab', cache).sort(), [
    join(cache, 'cni-loopback-mine-lo'),
    join(cache, 'skiff-mine-eth0'),
  ]);
  assert.deepEqual(cniCacheUnder('/var/lib/skiff/sandbox/ab/', cache).length, 2, 'a trailing slash is the same');
  assert.deepEqual(cniCacheUnder('/var/lib/skiff/sandbox/none', cache), []);
  assert.deepEqual(cniCacheUnder('/var/lib/skiff/sandbox/ab', join(cache, 'missing')), [], 'no cache: nothing');
  for (const bad of ['/', '', 'relative/dir', '/var/..'])
    assert.throws(() => cniCacheUnder(bad, cache), /not a sandbox directory/, bad);
});
