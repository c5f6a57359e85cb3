// Whether a node's agent is connected to the control plane, as the server saw it: the server
// stamps the Node with the time its agent's tunnel dropped and removes the stamp when the agent
// is back. A lease takes the node monitor grace period (40 s) to expire; a dropped connection is
// seen at once, which lets the service proxy move a LoadBalancer IP off a node within seconds.
import type { Node } from './kube/index.ts';

export const AGENT_DISCONNECTED = 'skiff.io/agent-disconnected-at';
/**
 * Which server holds the agent's connection: with several servers an agent that moved on may
 * still be dropping off the old one, and only the holder's view of a drop counts.
 */
export const AGENT_CONNECTED_VIA = 'skiff.io/agent-connected-via';
/** An agent away this long counts as gone (a restarting agent is back well within it). */
export const AGENT_GONE_AFTER_MS = 3_000;

/** Milliseconds since the node's agent dropped its connection, or undefined while connected. */
export function agentAwayMs(n: Node, now: number): number | undefined {
  const at = n.metadata.annotations?.[AGENT_DISCONNECTED];
  if (!at) return undefined;
  const t = Date.parse(at);
  return Number.isFinite(t) ? Math.max(0, now - t) : undefined;
}
