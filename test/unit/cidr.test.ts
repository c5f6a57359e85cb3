import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cidrContains, intToIp, ipToInt, nthIp, parseCidr } from '../../controlplane/shared/cidr.ts';

test('CIDR arithmetic', () => {
  const c = parseCidr('10.96.0.0/12');
  assert.equal(c.size, 2 ** 20);
  assert.equal(nthIp(c, 1), '10.96.0.1');
  assert.equal(nthIp(c, 10), '10.96.0.10');
  assert.ok(cidrContains(c, '10.111.255.255'));
  assert.ok(!cidrContains(c, '10.112.0.0'));
  assert.ok(!cidrContains(c, 'not-an-ip'));
  assert.equal(intToIp(ipToInt('192.168.1.77')), '192.168.1.77');
  assert.equal(parseCidr('10.244.3.7/24').base, ipToInt('10.244.3.0'));
  for (const bad of ['10.0.0.0', '10.0.0.0/33', '300.0.0.0/8']) assert.throws(() => parseCidr(bad), bad);
});
