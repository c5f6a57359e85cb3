// The hostPort nft scripts are real nft: the kernel takes them in a throwaway namespace (as a
// transaction, then applied and read back), including a second ADD that rewrites the table in
// the same transaction as its elements, and DEL.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execa } from 'execa';
import { addScript, delScript } from '../../cni/hostport.ts';
import { netnsSet } from '../helpers/netns.ts';

test('hostPort scripts load into the kernel and leave the expected map', { timeout: 60_000 }, async () => {
  const ns = await netnsSet('hostport', ['n'], ['10.244.0.0/16']);
  const nft = (script: string, check = false) =>
    execa('nsenter', [`--net=/run/netns/${ns.names[0]}`, 'nft', ...(check ? ['-c'] : []), '-f', '-'], {
      input: script,
      reject: false,
      timeout: 10_000,
    });
  try {
    const first = addScript('10.244.1.5', [{ hostPort: 30080, containerPort: 8080, protocol: 'tcp' }]);
    const second = addScript('10.244.1.6', [{ hostPort: 53, containerPort: 5353, protocol: 'udp' }]);
    for (const script of [first, second]) {
      const c = await nft(script, true);
      assert.equal(c.exitCode, 0, `nft -c: ${c.stderr}`);
    }
    for (const script of [first, second, delScript([{ hostPort: 30080, containerPort: 8080, protocol: 'tcp' }])]) {
      const r = await nft(script);
      assert.equal(r.exitCode, 0, r.stderr);
    }
    const list = await execa('nsenter', [
      `--net=/run/netns/${ns.names[0]}`,
      'nft',
      'list',
      'map',
      'ip',
      'skiff-hostport',
      'ports',
    ]);
    assert.match(list.stdout, /udp \. 53 : 10\.244\.1\.6 \. 5353/);
    assert.doesNotMatch(list.stdout, /30080/);
  } finally {
    await ns.cleanup();
  }
});
