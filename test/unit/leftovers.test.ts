// Which nft tables and links an uninstall removes: only Skiff's, pod veths before their bridge.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { skiffLinks, skiffTables } from '../../agent/host/leftovers.ts';

test('nft tables: skiff-* in families ip and inet only', () => {
  const json = JSON.stringify({
    nftables: [
      { metainfo: { version: '1.0.6' } },
      { table: { family: 'ip', name: 'skiff-hostport', handle: 1 } },
      { table: { family: 'inet', name: 'skiff-policy', handle: 2 } },
      { table: { family: 'ip', name: 'nat', handle: 3 } },
      { table: { family: 'ip6', name: 'skiff-proxy', handle: 4 } },
      { table: { family: 'ip', name: 'skiffy', handle: 5 } },
      { table: { family: 'inet', name: 'firewalld', handle: 6 } },
    ],
  });
  assert.deepEqual(
    skiffTables(json).map((t) => `${t.family} ${t.name}`),
    ['ip skiff-hostport', 'inet skiff-policy'],
  );
  assert.deepEqual(skiffTables(''), []);
  assert.deepEqual(skiffTables('{"nftables":[]}'), []);
});

test('links: veths on a skiff bridge first, then skiff0, skiff.1, skiff-dns0; nothing else', () => {
  const links = [
    { ifname: 'lo' },
    { ifname: 'eth0' },
    { ifname: 'docker0', link_info: { info_kind: 'bridge' } },
    { ifname: 'skiff0', link_info: { info_kind: 'bridge' } },
    { ifname: 'skiff.1', link_info: { info_kind: 'vxlan' } },
    { ifname: 'skiff-dns0', link_info: { info_kind: 'veth' } },
    { ifname: 'veth1a2b3c4d', master: 'skiff0', link_info: { info_kind: 'veth' } },
    { ifname: 'vethdocker', master: 'docker0', link_info: { info_kind: 'veth' } },
    { ifname: 'skiffy', link_info: { info_kind: 'bridge' } },
    { ifname: 'skiff.x', link_info: { info_kind: 'vxlan' } },
  ];
  assert.deepEqual(skiffLinks(JSON.stringify(links)), ['veth1a2b3c4d', 'skiff0', 'skiff.1', 'skiff-dns0']);
  assert.deepEqual(skiffLinks(''), []);
});
