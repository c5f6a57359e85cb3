// The V8 flags bin/skiff starts a process that runs an agent with (its `agent_node_flags` line):
// read by the ingress bench, which runs Skiff's proxy the same way, and checked on live agents.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export function agentNodeFlags(
  script = readFileSync(fileURLToPath(new URL('../../bin/skiff', import.meta.url)), 'utf8'),
): string[] {
  const m = /^agent_node_flags=\(([^)]*)\)$/m.exec(script);
  if (!m) throw new Error('bin/skiff sets no agent_node_flags');
  return m[1].split(/\s+/).filter(Boolean);
}
