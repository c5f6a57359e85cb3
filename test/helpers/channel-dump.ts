// Run inside a sandbox node (nsenter): connects to the push channel with a node's credential,
// waits for the snapshot, and prints the kinds and names it was sent as JSON.
import { readFileSync } from 'node:fs';
import { ChannelClient } from '../../agent/channel.ts';

const [credFile, target, node] = process.argv.slice(2);
const creds = JSON.parse(readFileSync(credFile, 'utf8'));
const c = new ChannelClient(target, creds.ca, creds.token, node, (s) => process.stderr.write(s + '\n'));
c.start();
const end = Date.now() + 15_000;
while (!c.state.synced && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
await new Promise((r) => setTimeout(r, 500));
process.stdout.write(
  JSON.stringify({
    pods: [...c.state.pods.keys()],
    secrets: [...c.state.secrets.keys()],
    configMaps: [...c.state.configMaps.keys()],
    network: {
      synced: c.network.synced,
      nodes: [...c.network.nodes.keys()],
      services: [...c.network.services.keys()],
      secrets: [...c.network.secrets.keys()],
    },
  }) + '\n',
);
c.stop();
process.exit(0);
