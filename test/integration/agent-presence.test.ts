// Agent presence with several servers on one store: the server that holds an agent's connection
// is named on its Node, a drop seen late by a server the agent has already left stamps nothing,
// and the holder's own drop is stamped (the proxy moves LoadBalancer IPs on that stamp).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmbeddedStore } from '../../controlplane/store/embedded.ts';
import { ServiceAllocator } from '../../controlplane/allocator/service-allocator.ts';
import { Registry } from '../../controlplane/api/registry.ts';
import { RESOURCES } from '../../controlplane/api/resources.ts';
import { ctxFor } from '../../controlplane/controllers/pod-owner.ts';
import { AgentPresence } from '../../controlplane/channel/presence.ts';
import { AGENT_CONNECTED_VIA, AGENT_DISCONNECTED } from '../../controlplane/shared/agent-presence.ts';

const NODES = RESOURCES.find((r) => r.kind === 'Node')!;

test('a late drop seen by a server the agent left stamps nothing; the holder’s drop does', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'presence-'));
  const store = new EmbeddedStore(join(dir, 'db'));
  try {
    const reg = new Registry(store, new ServiceAllocator(store, '10.96.0.0/12', '30000-32767'));
    await reg.create(NODES, undefined, { apiVersion: 'v1', kind: 'Node', metadata: { name: 'n1' } }, ctxFor('test'));
    const a = new AgentPresence(reg, 'server-a');
    const b = new AgentPresence(reg, 'server-b');
    const annotations = async () => (await reg.get(NODES, undefined, 'n1')).metadata.annotations ?? {};
    const settle = async (p: AgentPresence) => {
      // Writes are queued per node; a later no-op write resolves once they are done.
      for (let i = 0; i < 50 && p.pending('n1'); i++) await new Promise((r) => setImmediate(r));
    };
    a.set('n1', true);
    await settle(a);
    assert.equal((await annotations())[AGENT_CONNECTED_VIA], 'server-a');
    // The agent moves to b before a notices it has gone.
    b.set('n1', true);
    await settle(b);
    a.set('n1', false);
    await settle(a);
    let an = await annotations();
    assert.equal(an[AGENT_CONNECTED_VIA], 'server-b');
    assert.equal(an[AGENT_DISCONNECTED], undefined, 'a drop seen by a server that no longer holds the agent');
    // Now the holder sees it drop: stamped; and back: cleared.
    b.set('n1', false);
    await settle(b);
    an = await annotations();
    assert.ok(an[AGENT_DISCONNECTED], 'the holder stamps the drop');
    a.set('n1', true);
    await settle(a);
    an = await annotations();
    assert.equal(an[AGENT_DISCONNECTED], undefined);
    assert.equal(an[AGENT_CONNECTED_VIA], 'server-a');
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
