// hostPort mappings: runtimeConfig checking and the nft scripts, as tables.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { addScript, delScript, parseMappings } from '../../cni/hostport.ts';

test('portMappings are checked and normalised', () => {
  assert.deepEqual(parseMappings(undefined), []);
  assert.deepEqual(
    parseMappings([
      { hostPort: 80, containerPort: 8080, protocol: 'TCP' },
      { hostPort: 53, containerPort: 53, protocol: 'udp' },
      { HostPort: 9, ContainerPort: 9, Protocol: '', HostIP: '' },
    ]),
    [
      { hostPort: 80, containerPort: 8080, protocol: 'tcp' },
      { hostPort: 53, containerPort: 53, protocol: 'udp' },
      { hostPort: 9, containerPort: 9, protocol: 'tcp' },
    ],
  );
  const bad: [unknown, RegExp][] = [
    [{}, /must be a list/],
    [[{ hostPort: 0, containerPort: 1 }], /invalid hostPort 0/],
    [[{ hostPort: 70000, containerPort: 1 }], /invalid hostPort 70000/],
    [[{ hostPort: 1, containerPort: 'x' }], /invalid containerPort "x"/],
    [[{ hostPort: 1, containerPort: 1, protocol: 'icmp' }], /unsupported protocol "icmp"/],
  ];
  for (const [raw, re] of bad)
    assert.throws(
      () => parseMappings(raw),
      (e: Error) => re.test(e.message),
    );
});

test('the add script redefines the table in the same transaction as the elements; del removes by key', () => {
  const s = addScript('10.244.1.5', [{ hostPort: 30080, containerPort: 8080, protocol: 'tcp' }]).split('\n');
  assert.ok(
    s.indexOf('flush chain ip skiff-hostport prerouting') <
      s.findIndex((l) => l.startsWith('add rule ip skiff-hostport prerouting')),
  );
  assert.ok(s.includes('add element ip skiff-hostport ports { tcp . 30080 : 10.244.1.5 . 8080 }'));
  assert.ok(
    s.some((l) => /output \{ type nat hook output priority -100 ;/.test(l)),
    'output hooks take a number, not dstnat',
  );
  assert.equal(
    delScript([{ hostPort: 53, containerPort: 5353, protocol: 'udp' }]),
    'delete element ip skiff-hostport ports { udp . 53 }\n',
  );
});
