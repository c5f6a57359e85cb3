// Pod start latency: from create to Ready (image present) for 30 pods on one node and for 30
// spread over three, p50 and p99, against the Kubernetes SLO (p99 <= 5 s) and Skiff's goal
// (p50 <= 0.5 s, p99 <= 1.5 s); then the agent's RSS with 30 pods running.
// Runs in a 3-node sandbox; a driver inside node1's namespace creates the pods through the API
// and times each from its create request to the watch event that shows it Ready.
import { execa } from 'execa';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, SKIFF } from '../test/helpers/server.ts';
import { loadState } from '../agent/sandbox/sandbox.ts';

const NAME = 'benchpods';
const N = 30;
const k = (args: string[], input?: string) =>
  execa(SKIFF, ['sandbox', 'kubectl', '--name', NAME, '--', ...args], { input, reject: false });
const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};

async function round(label: string, nodes: string[]) {
  // The driver runs inside node1's namespace: requests never leave the sandbox.
  const st = loadState(NAME)!;
  const r = await execa(
    SKIFF,
    [
      'sandbox',
      'exec',
      '--name',
      NAME,
      'node1',
      '--',
      join(ROOT, 'node_modules/.bin/node'),
      '--disable-warning=ExperimentalWarning',
      join(ROOT, 'bench/pod-start-driver.ts'),
      st.kubeconfig,
      label,
      nodes.join(','),
      String(N),
    ],
    { reject: false, all: true },
  );
  if (r.exitCode !== 0) throw new Error(String(r.all));
  const lat = JSON.parse(String(r.stdout).trim().split('\n').pop()!) as number[];
  return { label, ready: lat.length, p50: pct(lat, 50), p99: pct(lat, 99) };
}

const up = await execa(SKIFF, ['sandbox', 'up', '--name', NAME, '--nodes', '3'], { reject: false, all: true });
try {
  if (up.exitCode !== 0) throw new Error(String(up.all));
  const one = await round('one', ['node1']);
  const rssOf = (role: string) => {
    const pid = loadState(NAME)!.pids.find((p) => p.role === role)!.pid;
    return Number((readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmRSS:\s+(\d+)/) ?? [])[1] ?? 0) / 1024;
  };
  const rss = rssOf('agent-node1');
  await k(['delete', 'pods', '-l', 'bench=one', '--wait=true']);
  const three = await round('three', ['node1', 'node2', 'node3']);
  console.log(
    `Pod start latency, create to Ready, ${N} pods submitted at once (create request to the watch event ` +
      `showing Ready):`,
  );
  for (const r of [one, three]) {
    console.log(
      `  ${r.label === 'one' ? '1 node ' : '3 nodes'}: p50 ${(r.p50 / 1000).toFixed(2)} s, ` +
        `p99 ${(r.p99 / 1000).toFixed(2)} s (${r.ready}/${N} Ready) | SLO p99<=5 ` +
        `s: ${r.p99 <= 5000 ? 'met' : 'missed'} | goal p50<=0.5 s ${r.p50 <= 500 ? 'met' : 'missed'}, p99<=1.5 ` +
        `s ${r.p99 <= 1500 ? 'met' : 'missed'}`,
    );
  }
  console.log(`Agent RSS with ${N} pods running on its node: ${rss.toFixed(0)} MiB`);
} finally {
  await execa(SKIFF, ['sandbox', 'down', '--name', NAME], { reject: false });
}
