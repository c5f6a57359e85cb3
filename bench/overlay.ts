// Overlay benchmark, for VXLAN and host-gw in one run, each on a 2-node `skiff sandbox`:
// TCP throughput (iperf3 from Debian) and request/response latency pod-to-pod across nodes
// against node-to-node on the underlay (pods' traffic runs in the pods' own network namespaces);
// the time from a Node change reaching an agent to its entries being applied (from the agent's
// log), p50/p99 over N changes; and the agent's CPU while idle with 50 peers.
// Everything is inside the sandbox's namespaces, behind its blackhole routes.
// Throughput is measured twice: on the bare veth underlay, where the CPU is the limit and the
// ratio is the overlay's per-packet cost, and with each node's eth0 shaped to --link-rate (a
// token bucket, as a NIC's line rate would be), where the ratio is what a pod gets of the link.
// Usage: node bench/overlay.ts [--changes 100] [--seconds 5] [--backends vxlan,host-gw] [--link-rate 1gbit]
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { procStat } from '../agent/host/proc-stat.ts';
import { loadState, type SandboxState } from '../agent/sandbox/sandbox.ts';
import { ROOT, SKIFF } from '../test/helpers/server.ts';
import { until } from '../test/helpers/sandbox.ts';

const args = process.argv.slice(2);
const opt = (name: string, d: string) => (args.includes(`--${name}`) ? args[args.indexOf(`--${name}`) + 1] : d);
const CHANGES = Number(opt('changes', '100'));
const SECONDS = Number(opt('seconds', '5'));
const LINK_RATE = opt('link-rate', '1gbit');
const BACKENDS = opt('backends', 'vxlan,host-gw').split(',') as ('vxlan' | 'host-gw')[];
const NAME = 'ovlbench';
const NODE = join(ROOT, 'node_modules/.bin/node');
const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};
const skiff = (a: string[], input?: string) => execa(SKIFF, a, { reject: false, all: true, input, timeout: 300_000 });
const k = (a: string[], input?: string) => skiff(['sandbox', 'kubectl', '--name', NAME, '--', ...a], input);
const inNs = (ns: string, cmd: string[]) => execa('nsenter', [`--net=${ns}`, ...cmd], { reject: false, all: true });

// A missing tool would otherwise show as a run that never ends with a result.
for (const tool of ['iperf3', 'tc'])
  if ((await execa('sh', ['-c', `command -v ${tool}`], { reject: false })).exitCode !== 0) {
    console.error(`bench/overlay: ${tool} is not installed (apt-get install ${tool === 'tc' ? 'iproute2' : tool})`);
    process.exit(1);
  }

/** A TCP echo of 1 byte, N round trips; prints the latencies in µs as JSON. */
const PINGPONG_SERVER = `require('net').createServer((c)=>c.on('data',(d)=>c.write(d))).listen(7100)`;
const pingpongClient = (ip: string) =>
  `const s=require('net').connect(7100,'${ip}');s.setNoDelay(true);const out=[];let t;` +
  `s.on('connect',()=>{t=process.hrtime.bigint();s.write('x')});` +
  (`s.on('data',()=>{const n=process.hrtime.bigint();out.push(Number(n-t)/1000);` +
    `if(out.length>=2000){console.log(JSON.stringify(out));process.exit(0)}t=process.hrtime.bigint();` +
    `s.write('x')});`);

async function throughput(serverNs: string, clientNs: string, ip: string): Promise<number> {
  const srv = inNs(serverNs, ['iperf3', '-s', '-1', '-p', '5201']);
  try {
    // Only a run with a result counts: a client can end with status 0 and no test done (once
    // seen with the link shaped), and its server then waits for a test that never comes.
    return await until(
      'iperf3',
      async () => {
        const c = await inNs(clientNs, ['iperf3', '-c', ip, '-p', '5201', '-t', String(SECONDS), '-J']);
        if (c.exitCode !== 0) return undefined;
        const bps = JSON.parse(String(c.stdout))?.end?.sum_received?.bits_per_second;
        return typeof bps === 'number' && bps / 1e9;
      },
      20_000 + SECONDS * 3000,
    );
  } finally {
    srv.kill('SIGKILL');
    await srv;
  }
}

async function latency(serverNs: string, clientNs: string, ip: string): Promise<number[]> {
  const srv = inNs(serverNs, [NODE, '-e', PINGPONG_SERVER]);
  try {
    const r = await until(
      'ping-pong',
      async () => {
        const c = await inNs(clientNs, [NODE, '-e', pingpongClient(ip)]);
        return c.exitCode === 0 && c;
      },
      20_000,
    );
    return JSON.parse(String(r.stdout));
  } finally {
    srv.kill('SIGKILL');
  }
}

async function podNetns(s: SandboxState, node: string, ip: string): Promise<string> {
  const n = s.nodes.find((x) => x.name === node)!;
  const dir = join(s.dir, node, 'containerd/state/io.containerd.grpc.v1.cri/netns');
  const r = await inNs(`/run/netns/${n.ns}`, [
    'sh',
    '-c',
    `for f in ${dir}/*; do nsenter --net=$f ip -br addr | grep -q " ${ip}/" && echo $f; done`,
  ]);
  return String(r.stdout).trim().split('\n')[0];
}

function fakeNode(s: SandboxState, i: number, mac: string, host: number): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name: `fake${i}`,
      annotations: { 'skiff.io/public-ip': `10.250.${s.index}.${host}`, 'skiff.io/vtep-mac': mac },
    },
    spec: { podCIDR: `10.244.${100 + i}.0/24` },
  });
}

/** Each figure is printed as soon as it is measured (a long run stopped early keeps what it has). */
const report = { push: (...lines: string[]) => console.log(lines.join('\n')) };
for (const backend of BACKENDS) {
  await skiff(['sandbox', 'down', '--name', NAME]);
  const up = await skiff(['sandbox', 'up', '--name', NAME, '--nodes', '2', `--agent-arg=--backend=${backend}`]);
  if (up.exitCode !== 0) throw new Error(up.all);
  const s = loadState(NAME)!;
  try {
    const pod = (n: number) =>
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: `b${n}` },
        spec: {
          nodeName: `node${n}`,
          containers: [{ name: 'c', image: 'skiff.local/busybox:1.36', command: ['sleep', '100000'] }],
        },
      });
    await k(['apply', '-f', '-'], `${pod(1)}\n${pod(2)}`);
    const ip = async (p: string) =>
      until(`${p} IP`, async () => {
        const o = JSON.parse(String((await k(['get', 'pod', p, '-o', 'json'])).stdout));
        return o.status?.phase === 'Running' && o.status.podIP;
      });
    const ip1 = await ip('b1'),
      ip2 = await ip('b2');
    const [n1, n2] = s.nodes;
    const pod1 = await podNetns(s, 'node1', ip1),
      pod2 = await podNetns(s, 'node2', ip2);
    const ul1 = `/run/netns/${n1.ns}`,
      ul2 = `/run/netns/${n2.ns}`;
    // Alternating runs, the median of three each: one short run on a shared machine is noisy.
    const under: number[] = [],
      podT: number[] = [];
    for (let i = 0; i < 3; i++) {
      under.push(await throughput(ul2, ul1, n2.ip));
      podT.push(await throughput(pod2, pod1, ip2));
    }
    const tUnder = pct(under, 50),
      tPod = pct(podT, 50);
    const shape = async (on: boolean) => {
      for (const ns of [ul1, ul2]) {
        const tc = on
          ? [
              'tc',
              'qdisc',
              'replace',
              'dev',
              'eth0',
              'root',
              'tbf',
              'rate',
              LINK_RATE,
              'burst',
              '512kb',
              'latency',
              '20ms',
            ]
          : ['tc', 'qdisc', 'del', 'dev', 'eth0', 'root'];
        const r = await inNs(ns, tc);
        if (on && r.exitCode !== 0) throw new Error(`tc: ${r.all}`);
      }
    };
    await shape(true);
    const linkUnder = await throughput(ul2, ul1, n2.ip);
    const linkPod = await throughput(pod2, pod1, ip2);
    await shape(false);
    const lUnder = await latency(ul2, ul1, n2.ip);
    const lPod = await latency(pod2, pod1, ip2);
    report.push(
      `${backend}: TCP throughput pod-to-pod ${tPod.toFixed(2)} Gbit/s vs underlay ${tUnder.toFixed(2)} ` +
        `Gbit/s = ${(tPod / tUnder).toFixed(2)}x (goal ${backend === 'vxlan' ? '0.8' : '0.95'}x; veth, CPU-bound)`,
      `${backend}: TCP throughput with eth0 shaped to ${LINK_RATE}: pod-to-pod ${linkPod.toFixed(3)} Gbit/s vs ` +
        `underlay ${linkUnder.toFixed(3)} Gbit/s = ${(linkPod / linkUnder).toFixed(2)}x`,
      `${backend}: request/response (1 byte, 2000 round trips) p50/p99 ` +
        `pod-to-pod ${pct(lPod, 50).toFixed(0)}/${pct(lPod, 99).toFixed(0)} µs vs ` +
        `underlay ${pct(lUnder, 50).toFixed(0)}/${pct(lUnder, 99).toFixed(0)} µs`,
    );
    // Node changes: each a new peer, then each peer's address (and VTEP MAC) changing, which
    // both backends must follow; one at a time, timed by the agent.
    const logFile = join(s.dir, 'agent-node1.log');
    const timings: number[] = [];
    const peers = Math.min(50, CHANGES);
    for (let i = 0; i < CHANGES; i++) {
      const n = i % peers;
      const hex = (v: number) => v.toString(16).padStart(2, '0');
      const round = Math.floor(i / peers);
      const mac = `0a:00:00:00:${hex(round)}:${hex(n)}`;
      const before = readFileSync(logFile, 'utf8').length;
      const r = await k(['apply', '-f', '-'], fakeNode(s, n, mac, 100 + ((n + round * peers) % 150)));
      if (r.exitCode !== 0) throw new Error(r.all);
      const line = await until(
        'the change applied',
        async () =>
          /applied \d+ change\(s\) ([\d.]+) ms after the view changed/.exec(
            readFileSync(logFile, 'utf8').slice(before),
          ) ?? undefined,
        20_000,
      );
      timings.push(Number(line[1]));
    }
    report.push(
      `${backend}: Node change → entries applied on node1, ${timings.length} changes: ` +
        `p50 ${pct(timings, 50).toFixed(1)} ms, p99 ${pct(timings, 99).toFixed(1)} ms (goal p99 ≤ 100 ms)`,
    );
    // Idle CPU of node1's agent with 50 peers (the fake nodes stay).
    const pid = s.pids.find((p) => p.role === 'agent-node1')!.pid;
    const cpu = () => {
      const st = procStat(pid);
      if (!st) throw new Error(`node1's agent (${pid}) is gone`);
      return st.cpuSeconds;
    };
    const c0 = cpu(),
      t0 = Date.now();
    await new Promise((r) => setTimeout(r, 30_000));
    const share = (cpu() - c0) / ((Date.now() - t0) / 1000);
    report.push(`${backend}: agent CPU idle with ${peers} peers: ${(share * 100).toFixed(2)}% of one core over 30 s`);
  } finally {
    await skiff(['sandbox', 'down', '--name', NAME]);
  }
}
