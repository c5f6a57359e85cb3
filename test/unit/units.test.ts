// The systemd units `skiff install` writes: restart policy, ordering, journal, quoting.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { renderUnit, systemdArg } from '../../agent/host/units.ts';

test('agent unit: restarts always, after the network (and a local server), logs to the journal', () => {
  const u = renderUnit('agent', '/opt/skiff/bin/skiff', [
    '--server',
    'https://192.168.56.11:6443',
    '--node-ip',
    '1.2.3.4',
  ]);
  assert.match(
    u,
    /^ExecStart=\/opt\/skiff\/bin\/skiff agent --server https:\/\/192\.168\.56\.11:6443 --node-ip 1\.2\.3\.4$/m,
  );
  assert.match(u, /^Restart=always$/m);
  assert.match(u, /^After=network-online\.target skiff-server\.service$/m);
  assert.match(u, /^Wants=network-online\.target$/m);
  assert.match(u, /^StandardOutput=journal$/m);
  assert.match(u, /^KillMode=process$/m);
  assert.match(u, /^WantedBy=multi-user\.target$/m);
});

test('server unit: no dependency on an agent', () => {
  const u = renderUnit('server', '/s', ['--advertise-address', '10.0.0.1']);
  assert.match(u, /^ExecStart=\/s server --advertise-address 10\.0\.0\.1$/m);
  assert.match(u, /^After=network-online\.target$/m);
  assert.match(u, /^Restart=always$/m);
});

test('arguments are quoted and escaped for systemd, and impossible ones refused', () => {
  assert.equal(systemdArg('plain'), 'plain');
  assert.equal(systemdArg('a b'), '"a b"');
  assert.equal(systemdArg('50%'), '50%%');
  assert.equal(systemdArg('$HOME'), '$$HOME');
  assert.equal(systemdArg(''), '""');
  assert.throws(() => systemdArg('a"b'), /cannot go into a unit file/);
  assert.throws(() => systemdArg('a\nb'), /cannot go into a unit file/);
});
