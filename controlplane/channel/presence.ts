// Writes what the tunnels see about agents onto their Nodes (controlplane/shared/agent-presence.ts):
// the time an agent's connection dropped, removed again when it is back. Writes for one node are
// kept in order; a Node that does not exist (yet) is left alone.
import { kubeTime } from '../api/time.ts';
import type { Registry } from '../api/registry.ts';
import { RESOURCES } from '../api/resources.ts';
import { ctxFor } from '../controllers/pod-owner.ts';
import { AGENT_DISCONNECTED } from '../shared/agent-presence.ts';

const NODES = RESOURCES.find((r) => r.kind === 'Node')!;

export class AgentPresence {
  private reg: Registry;
  private chains = new Map<string, Promise<void>>();
  private ctx = ctxFor('agent-presence');
  constructor(reg: Registry) {
    this.reg = reg;
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

  private async write(node: string, connected: boolean, at: string): Promise<void> {
    const n = await this.reg.get(NODES, undefined, node);
    const has = !!n.metadata?.annotations?.[AGENT_DISCONNECTED];
    if (connected === !has) return;
    const patch = { metadata: { annotations: { [AGENT_DISCONNECTED]: connected ? null : at } } };
    await this.reg.patch(NODES, undefined, node, 'merge', patch, this.ctx);
  }
}
