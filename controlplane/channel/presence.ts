// Writes what the tunnels see about agents onto their Nodes (controlplane/shared/agent-presence.ts):
// the time an agent's connection dropped, removed again when it is back, and which server holds
// the connection. A server stamps a drop only while the Node names it as the holder: with several
// servers the old one may see the drop after the agent is already back on another. Writes for one
// node are kept in order; a Node that does not exist (yet) is left alone.
import { kubeTime } from '../api/time.ts';
import { ApiError } from '../api/status.ts';
import type { Registry } from '../api/registry.ts';
import { RESOURCES } from '../api/resources.ts';
import { ctxFor } from '../controllers/pod-owner.ts';
import { AGENT_CONNECTED_VIA, AGENT_DISCONNECTED } from '../shared/agent-presence.ts';
import { randomUUID } from 'node:crypto';

const NODES = RESOURCES.find((r) => r.kind === 'Node')!;

export class AgentPresence {
  private reg: Registry;
  private chains = new Map<string, Promise<void>>();
  private ctx = ctxFor('agent-presence');
  /** This server, as the Node's holder annotation names it. */
  readonly id: string;
  constructor(reg: Registry, id: string = randomUUID()) {
    this.reg = reg;
    this.id = id;
  }

  set(node: string, connected: boolean): void {
    const at = kubeTime();
    const prev = this.chains.get(node) ?? Promise.resolve();
    const next = prev.then(() => this.write(node, connected, at)).catch(() => {});
    this.chains.set(node, next);
    void next.then(() => {
      if (this.chains.get(node) === next) this.chains.delete(node);
    });
  }

  /** Whether writes for a node are still queued. */
  pending(node: string): boolean {
    return this.chains.has(node);
  }

  private async write(node: string, connected: boolean, at: string): Promise<void> {
    // A conflict means the Node changed between the read and the write (its status, or another
    // server's holder): read again and decide again.
    for (let attempt = 0; attempt < 5; attempt++) {
      const n = await this.reg.get(NODES, undefined, node);
      const a = n.metadata?.annotations ?? {};
      const annotations = connected
        ? a[AGENT_DISCONNECTED] || a[AGENT_CONNECTED_VIA] !== this.id
          ? { [AGENT_DISCONNECTED]: null, [AGENT_CONNECTED_VIA]: this.id }
          : null
        : a[AGENT_CONNECTED_VIA] === this.id && !a[AGENT_DISCONNECTED]
          ? { [AGENT_DISCONNECTED]: at }
          : null;
      if (!annotations) return;
      // The resourceVersion makes the patch a compare-and-swap.
      const patch = { metadata: { resourceVersion: n.metadata.resourceVersion, annotations } };
      try {
        await this.reg.patch(NODES, undefined, node, 'merge', patch, this.ctx);
        return;
      } catch (e) {
        if (!(e instanceof ApiError && e.code === 409)) throw e;
      }
    }
  }
}
