// The CNI plugin's configuration check and error results (pure parts of cni/): what containerd
// hands over on stdin is checked up front, and every bad value is a CNI error with the spec's code
// and a message naming it, never a TypeError further in.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConf } from '../../cni/config.ts';
import { CniError, CODES, errorResult } from '../../cni/errors.ts';
import { run } from '../../cni/plugin.ts';
import type { SkiffNetConf } from '../../cni/types.ts';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const base: SkiffNetConf = {
  cniVersion: '1.1.0',
  name: 'skiff',
  type: 'skiff',
  subnet: '10.244.1.0/24',
  dataDir: join(tmpdir(), 'skiff-cni-unit-never-written'),
};
const conf = (extra: Record<string, unknown>) => JSON.stringify({ ...base, ...extra });

test('a good configuration: defaults, gateway, prevResult and attachments carried through', () => {
  const c = parseConf(
    conf({
      prevResult: { cniVersion: '1.1.0', ips: [{ address: '10.244.1.2/24', interface: 2 }] },
      'cni.dev/valid-attachments': [{ containerID: 'c1', ifname: 'eth0' }],
      runtimeConfig: { portMappings: [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }] },
    }),
    true,
  );
  assert.equal(c.bridge, 'skiff0');
  assert.equal(c.gateway, '10.244.1.1');
  assert.equal(c.mtu, 1500);
  assert.equal(c.hairpin, true);
  assert.equal(c.prevResult?.ips?.[0].address, '10.244.1.2/24');
  assert.deepEqual(c.validAttachments, [{ containerID: 'c1', ifname: 'eth0' }]);
  assert.deepEqual(c.portMappings, [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }]);
});

test('bad values are CNI errors with the spec code and the value named', () => {
  const cases: [string, number, RegExp][] = [
    ['{', CODES.decodeFailure, /failed to decode/],
    ['[]', CODES.decodeFailure, /must be a JSON object/],
    [conf({ cniVersion: '0.1.0' }), CODES.incompatibleVersion, /incompatible CNI version 0.1.0/],
    [conf({ mtu: '1500' }), CODES.invalidConfig, /invalid mtu "1500"/],
    [conf({ subnet: '10.244.1.0/31' }), CODES.invalidConfig, /too small/],
    [conf({ runtimeConfig: 'x' }), CODES.invalidConfig, /runtimeConfig must be an object/],
    [conf({ prevResult: { cniVersion: '1.1.0', ips: [{}] } }), CODES.invalidConfig, /prevResult is not a CNI result/],
    [conf({ 'cni.dev/valid-attachments': {} }), CODES.invalidConfig, /valid-attachments must be a list/],
  ];
  for (const [raw, code, msg] of cases)
    assert.throws(
      () => parseConf(raw, true),
      (e: unknown) => e instanceof CniError && e.code === code && msg.test(e.message),
      raw,
    );
});

test('GC without the list of valid attachments is refused, not taken as "nothing is valid"', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'skiff-cni-unit-'));
  try {
    const env = { command: 'GC', containerID: '', netns: '', ifname: '' };
    await assert.rejects(
      run(env, conf({ dataDir })),
      (e: unknown) => e instanceof CniError && e.code === CODES.invalidConfig,
    );
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test('CNI_CONTAINERID, CNI_IFNAME and CNI_NETNS outside the spec are refused before anything is done', async () => {
  // They end up in file paths (hostport state) and `ip -batch` lines in the node's namespace.
  const good = { containerID: 'c1', netns: '/run/netns/none', ifname: 'eth0' };
  const cases: [string, Partial<typeof good>, RegExp][] = [
    ['ADD', { containerID: '../../etc/x' }, /CNI_CONTAINERID must be/],
    ['DEL', { containerID: '-c' }, /CNI_CONTAINERID must be/],
    ['ADD', { ifname: 'eth0-but-longer-than-15' }, /CNI_IFNAME must be/],
    ['ADD', { ifname: 'a/b' }, /CNI_IFNAME must be/],
    ['DEL', { ifname: 'x\nlink del skiff0' }, /CNI_IFNAME must be/],
    ['CHECK', { ifname: '..' }, /CNI_IFNAME must be/],
    ['ADD', { netns: '/run/netns/a b' }, /CNI_NETNS must be/],
    ['DEL', { netns: 'relative\nlink del skiff0' }, /CNI_NETNS must be/],
  ];
  for (const [command, bad, msg] of cases)
    await assert.rejects(
      run({ command, ...good, ...bad }, conf({})),
      (e: unknown) => e instanceof CniError && e.code === CODES.invalidEnv && msg.test(e.message),
      `${command} ${JSON.stringify(bad)}`,
    );
});

test("the error result carries the request's cniVersion when it is a string", () => {
  assert.deepEqual(errorResult(new CniError(CODES.invalidConfig, 'bad'), conf({ cniVersion: '0.4.0' })), {
    cniVersion: '0.4.0',
    code: 7,
    msg: 'bad',
  });
  assert.equal(errorResult(new Error('boom'), '{"cniVersion": 1}').cniVersion, '1.1.0');
  assert.equal(errorResult(new Error('boom'), 'null').code, CODES.generic);
});
