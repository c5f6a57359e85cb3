// The long-lived `nft -i` the proxy sends its partial syncs to, against the real kernel in a
// namespace of the test's own: a line commits as one transaction or not at all, its errors come
// back with it and not with the next one, and a process that dies is replaced.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execa } from 'execa';
import { NftSession } from '../../agent/proxy/nft-session.ts';
import { nftCommand } from '../../agent/proxy/nft.ts';
import { netnsSet } from '../helpers/netns.ts';

test('nft session: transactions per line, errors with their own transaction, a dead process replaced', async () => {
  // No interface or address is made here; the range is guarded all the same.
  const set = await netnsSet('nfts', ['node'], ['10.250.250.0/24']);
  const [ns] = set.names;
  const wrap = ['nsenter', `--net=/run/netns/${ns}`];
  const session = new NftSession([...wrap, 'nft']);
  const chains = async () =>
    String((await execa(wrap[0], [...wrap.slice(1), 'nft', 'list', 'chains', 'ip'])).stdout)
      .split('\n')
      .filter((l) => /^\s*chain /.test(l))
      .map((l) => l.trim().split(/\s+/)[1])
      .sort();
  try {
    assert.equal(
      await session.run('add table ip t; add chain ip t a; add chain ip t b { ip saddr 10.250.250.1 drop ; }'),
      '',
    );
    assert.deepEqual(await chains(), ['a', 'b']);

    // The second command fails: the first is not committed either, and the error names the failing part.
    const bad = await session.run('add chain ip t c; add chain ip t d { ip saddr 10.250.250.1 jump nowhere ; }');
    assert.match(bad, /Error: .*\n.*jump nowhere/);
    assert.deepEqual(await chains(), ['a', 'b']);

    // The next transaction gets none of the earlier errors (nor the marker's carets).
    assert.equal(await session.run('add chain ip t c'), '');
    assert.deepEqual(await chains(), ['a', 'b', 'c']);

    // Through nftCommand: an error is thrown with the message and the part nft points at.
    const nft = nftCommand(wrap);
    await assert.rejects(nft.apply('add chain ip t e\nadd rule ip t e goto missing\n'), /Error: .*goto missing/);
    await nft.apply('add chain ip t e\nadd chain ip t f\n');
    assert.deepEqual(await chains(), ['a', 'b', 'c', 'e', 'f']);
    nft.close?.();

    // What a joined line would change is refused, or sent through `nft -f`: a `#` comments out
    // only the rest of its own line there; a line break or a trailing backslash never reaches the
    // session.
    const viaFile = nftCommand(wrap);
    await viaFile.apply('add chain ip t h # a comment\nadd chain ip t n\n');
    assert.ok((await chains()).includes('n'), 'the command after a comment line is committed');
    viaFile.close?.();
    await assert.rejects(session.run('add chain ip t i\radd chain ip t j'), /one plain line/);
    await assert.rejects(session.run('add chain ip t i \\'), /one plain line/);
    assert.ok(!(await chains()).includes('i'));

    // Closed with a transaction out: nft reads it before the end of its input and commits it,
    // and it is reported committed; the session takes nothing after.
    const closing = new NftSession([...wrap, 'nft']);
    await closing.run('add chain ip t k'); // started
    const out = closing.run('add chain ip t l');
    await new Promise((r) => setImmediate(r)); // one turn of the loop: the line is written
    closing.close();
    assert.equal(await out, '');
    assert.ok((await chains()).includes('l'));
    await assert.rejects(closing.run('add chain ip t m'), /closed/);

    // The process killed between transactions: the next one starts a new process and commits.
    const pids = String((await execa('pgrep', ['-P', String(process.pid), '-x', 'nft'], { reject: false })).stdout)
      .split('\n')
      .filter(Boolean);
    assert.ok(pids.length >= 1, 'the session keeps an nft process');
    for (const pid of pids) process.kill(Number(pid), 'SIGKILL');
    const deadline = Date.now() + 10_000;
    let after = '';
    while (Date.now() < deadline) {
      try {
        after = await session.run('add chain ip t g');
        break;
      } catch {
        // The kill may land while this transaction is out: it fails, the next one gets a new process.
      }
    }
    assert.equal(after, '');
    assert.ok((await chains()).includes('g'));
  } finally {
    session.close();
    await set.cleanup();
  }
});
