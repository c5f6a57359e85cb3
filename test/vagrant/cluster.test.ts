// The project's own vagrant/Vagrantfile, for real: an offline Debian box (vagrant/box/build.sh,
// cached), libvirt walled into a network and mount namespace of its own behind blackhole routes,
// `vagrant up` of 1 server + 1 agent VM under QEMU, 2 Ready nodes, a 2-replica Deployment and a
// Service, pods reaching each other, a reboot of the agent VM after which its node and pod come
// back, then `vagrant destroy` and every trace removed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execa } from 'execa';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { loadavg } from 'node:os';
import { startLibvirt, type Libvirt } from '../helpers/libvirt.ts';
import { ROOT } from '../helpers/server.ts';

const NET = '192.168.124';
const SERVER_IP = `${NET}.10`;
// Every range the VMs use: libvirt's management network, the private network, pods, services.
const RANGES = ['192.168.121.0/24', `${NET}.0/24`, '10.244.0.0/16', '10.96.0.0/12'];
const NAME = `vgt${process.pid}`;

const missing = ['vagrant', 'libvirtd', 'virtlogd', 'qemu-system-x86_64', 'debootstrap', 'qemu-img'].filter(
  (c) => execaSyncWhich(c) === '',
);
function execaSyncWhich(c: string): string {
  for (const d of (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(':'))
    if (existsSync(join(d, c))) return join(d, c);
  return '';
}
// Two VMs under software emulation need the machine to themselves (a VM got a sixth of a core at
// load 30): test/run.ts runs this tier alone after the others, and the test first waits up to
// five minutes for the CPUs to be at least SKIFF_VAGRANT_MIN_IDLE % idle over 5 s. Idle time, not
// the load average: that one-minute average of runnable and waiting tasks takes minutes to decay
// after a burst that has ended (165 s after the 100 sandboxes of integration/runtime).
const minIdle = Number(process.env.SKIFF_VAGRANT_MIN_IDLE ?? 70);

/** The share of CPU time (all CPUs) spent idle over `ms`, in %, from /proc/stat. */
async function idlePercent(ms: number): Promise<number> {
  const times = () => readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const a = times();
  await new Promise((r) => setTimeout(r, ms));
  const d = times().map((v, i) => v - a[i]);
  const total = d.reduce((x, y) => x + y, 0);
  return total ? (100 * d[3]) / total : 100; // field 4 of the cpu line is idle
}
const skip =
  process.getuid?.() !== 0
    ? 'needs root'
    : missing.length
      ? `missing ${missing.join(', ')} (bash vagrant/provision.sh test installs them)`
      : false;
// Services across VMs need the service proxy, names need DNS, pods on other VMs need the overlay.
const noProxy = !existsSync(join(ROOT, 'agent/proxy')) && 'no service proxy in this tree yet (agent/proxy)';
const noDns = !existsSync(join(ROOT, 'agent/dns')) && 'no cluster DNS in this tree yet (agent/dns)';
const noOverlay =
  !existsSync(join(ROOT, 'agent/overlay')) && 'no overlay between nodes in this tree yet (agent/overlay)';

const log = (s: string) => console.log(`[${new Date().toISOString().slice(11, 19)}] ${s}`);
const since = (t: number) => `${((Date.now() - t) / 1000).toFixed(0)} s`;

async function until<T>(what: string, ms: number, check: () => Promise<T | null | undefined | false>): Promise<T> {
  const end = Date.now() + ms;
  let last: unknown;
  while (Date.now() < end) {
    try {
      const v = await check();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, 2000));
  }
  assert.fail(`${what} within ${ms / 1000} s${last ? ` (last error: ${(last as Error).message})` : ''}`);
}

test('vagrant up: a server and an agent VM form a working cluster that survives a reboot', {
  skip,
  timeout: 38 * 60_000,
}, async (t) => {
  const t0 = Date.now();
  // The Vagrantfile writes its state next to itself: run a copy of the project (no node_modules:
  // the box carries them).
  const work = mkdtempSync(`/var/tmp/${NAME}-`);
  const project = join(work, 'skiff');
  const vagrantHome = join(work, 'vagrant-home');
  let lv: Libvirt | null = null;
  let upStarted = false;
  const env = () => ({
    VAGRANT_HOME: vagrantHome,
    VAGRANT_CWD: join(project, 'vagrant'),
    VAGRANT_CHECKPOINT_DISABLE: '1',
    VAGRANT_DEFAULT_PROVIDER: 'libvirt',
    SKIFF_BOX: 'skiff-test',
    SKIFF_NODES: '1',
    SKIFF_NET: NET,
    SKIFF_LIBVIRT_DRIVER: 'qemu',
    SKIFF_CPUS: '1',
    SKIFF_MEMORY: '1536',
    // Inside libvirt's mount namespace: <lv.dir>/var_log_libvirt/qemu here.
    SKIFF_CONSOLE_DIR: '/var/log/libvirt/qemu',
  });
  // The end of each VM's serial console, to say why a VM did not come up or came up wrong.
  const consoles = () => {
    if (!lv) return;
    const dir = join(lv.dir, 'var_log_libvirt', 'qemu');
    for (const f of existsSync(dir) ? readdirSync(dir).filter((n) => /^(server|agent\d+)\.log$/.test(n)) : []) {
      const text = readFileSync(join(dir, f), 'utf8').split('\n').slice(-40).join('\n');
      log(`serial console ${f} (last 40 lines):\n${text}`);
    }
  };
  // What the cluster and each VM's units say, for a failure's report.
  const diagnose = async () => {
    log(`pods:\n${(await kubectl(['get', 'pods', '-A', '-o', 'wide'])).out}`);
    log(`events:\n${(await kubectl(['get', 'events', '-A', '--sort-by=.lastTimestamp'])).out.slice(-4000)}`);
    for (const [vm, unit] of [
      ['server', 'skiff-server'],
      ['agent1', 'skiff-agent'],
    ]) {
      const j = await vagrant(['ssh', vm, '-c', `sudo journalctl -u ${unit} --no-pager -n 60`], 120_000);
      log(`${vm} ${unit} journal:\n${j.stdout.slice(-6000)}`);
    }
  };
  const vagrant = async (args: string[], timeout = 20 * 60_000) => {
    const r = await lv!.run('vagrant', args, { env: env(), cwd: join(project, 'vagrant'), timeout });
    if (r.exitCode !== 0) log(`vagrant ${args.join(' ')} failed:\n${r.all.slice(-4000)}`);
    return r;
  };
  const kubeconfig = join(project, 'vagrant/.skiff/admin.kubeconfig');
  const kubectl = async (args: string[], input?: string) => {
    const r = await execa('nsenter', [`--net=/run/netns/${NAME}`, 'kubectl', '--request-timeout=20s', ...args], {
      env: { KUBECONFIG: kubeconfig },
      input,
      reject: false,
      timeout: 60_000,
    });
    return { ok: r.exitCode === 0, out: String(r.stdout), err: String(r.stderr) };
  };
  try {
    let s = Date.now();
    const settled = Date.now() + 5 * 60_000;
    let idle = await idlePercent(5000);
    while (idle < minIdle && Date.now() < settled) idle = await idlePercent(5000);
    log(
      `CPUs ${idle.toFixed(0)} % idle after ${since(s)}, load average ${loadavg()[0].toFixed(1)} (wants ${minIdle} %)`,
    );
    s = Date.now();
    const box = await execa(join(ROOT, 'vagrant/box/build.sh'), [], { reject: false, timeout: 20 * 60_000 });
    assert.equal(box.exitCode, 0, `box build failed: ${String(box.stderr).slice(-3000)}`);
    const boxFile = String(box.stdout).trim().split('\n').pop()!;
    log(`box ${boxFile} ready in ${since(s)}`);

    await execa('rsync', [
      '-a',
      '--exclude',
      'node_modules',
      '--exclude',
      '.git',
      '--exclude',
      'vagrant/.skiff',
      '--exclude',
      'vagrant/.vagrant',
      `${ROOT}/`,
      `${project}/`,
    ]);
    s = Date.now();
    lv = await startLibvirt(NAME, RANGES, log);
    log(`libvirt up in ${since(s)}`);
    s = Date.now();
    const add = await vagrant(['box', 'add', '--name', 'skiff-test', boxFile], 10 * 60_000);
    assert.equal(add.exitCode, 0, 'vagrant box add');
    log(`box added in ${since(s)}`);

    s = Date.now();
    upStarted = true;
    const up = await vagrant(['up', '--no-parallel', '--provider', 'libvirt'], 25 * 60_000);
    assert.equal(up.exitCode, 0, `vagrant up: ${up.all.slice(-3000)}`);
    log(`vagrant up (server + agent1, provisioned) in ${since(s)}`);

    s = Date.now();
    await until('2 Ready nodes', 10 * 60_000, async () => {
      const r = await kubectl([
        'get',
        'nodes',
        '-o',
        'jsonpath={range .items[*]}{.metadata.name}={.status.conditions[?(@.type=="Ready")].status} {end}',
      ]);
      return r.out.trim().split(' ').sort().join(' ') === 'agent1=True server=True';
    });
    log(`2 nodes Ready ${since(s)} after up`);
    const nodes = await kubectl([
      'get',
      'nodes',
      '-o',
      'jsonpath={range .items[*]}{.metadata.name} {.status.addresses[0].address}{"\\n"}{end}',
    ]);
    assert.match(
      nodes.out,
      new RegExp(`server ${SERVER_IP.replace(/\./g, '\\.')}`),
      'the server node has its private IP',
    );
    assert.match(
      nodes.out,
      new RegExp(`agent1 ${NET.replace(/\./g, '\\.')}\\.11`),
      'the agent node has its private IP',
    );
    // The server VM's own kubeconfig names the address other hosts use (not loopback).
    const own = await vagrant(['ssh', 'server', '-c', 'sudo grep server: /etc/skiff/admin.kubeconfig'], 120_000);
    assert.match(own.stdout, new RegExp(`https://${SERVER_IP.replace(/\./g, '\\.')}:6443`));

    // A reboot under emulation can keep agent1 away longer than the default 300 s toleration of
    // a NotReady/unreachable node, after which the pods would be evicted (as Kubernetes does):
    // these pods wait for their node however long it takes.
    const stay = [
      { key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute' },
      { key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute' },
    ];
    const app = {
      apiVersion: 'v1',
      kind: 'List',
      items: [
        {
          apiVersion: 'apps/v1',
          kind: 'Deployment',
          metadata: { name: 'web', namespace: 'default' },
          spec: {
            replicas: 2,
            selector: { matchLabels: { app: 'web' } },
            template: {
              metadata: { labels: { app: 'web' } },
              spec: {
                // One replica per VM.
                tolerations: stay,
                affinity: {
                  podAntiAffinity: {
                    requiredDuringSchedulingIgnoredDuringExecution: [
                      { labelSelector: { matchLabels: { app: 'web' } }, topologyKey: 'kubernetes.io/hostname' },
                    ],
                  },
                },
                containers: [
                  {
                    name: 'web',
                    image: 'skiff.local/busybox:1.36',
                    command: ['sh', '-c', 'mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 80 -h /www'],
                    ports: [{ containerPort: 80 }],
                  },
                ],
              },
            },
          },
        },
        {
          apiVersion: 'v1',
          kind: 'Service',
          metadata: { name: 'web', namespace: 'default' },
          spec: { type: 'NodePort', selector: { app: 'web' }, ports: [{ port: 80, targetPort: 80 }] },
        },
        {
          apiVersion: 'v1',
          kind: 'Pod',
          metadata: { name: 'client', namespace: 'default' },
          spec: {
            nodeName: 'agent1',
            tolerations: stay,
            containers: [{ name: 'c', image: 'skiff.local/busybox:1.36', command: ['sleep', '100000'] }],
          },
        },
      ],
    };
    s = Date.now();
    const applied = await kubectl(['apply', '-f', '-'], JSON.stringify(app));
    assert.ok(applied.ok, applied.err);
    const pods = async () => {
      const r = await kubectl([
        'get',
        'pods',
        '-o',
        'jsonpath={range .items[*]}{.metadata.name} {.spec.nodeName} {.status.phase} {.status.podIP}{"\\n"}{end}',
      ]);
      return r.out
        .trim()
        .split('\n')
        .filter(Boolean)
        .map((l) => {
          const [name, node, phase, ip] = l.split(' ');
          return { name, node, phase, ip };
        });
    };
    const running = await until('web on both VMs and the client Running', 10 * 60_000, async () => {
      const p = await pods();
      const web = p.filter((x) => x.name.startsWith('web-') && x.phase === 'Running');
      const ok =
        web.length === 2 &&
        new Set(web.map((x) => x.node)).size === 2 &&
        p.some((x) => x.name === 'client' && x.phase === 'Running');
      return ok && p;
    });
    log(`pods Running ${since(s)} after apply`);
    const webOn = (node: string, list: typeof running) =>
      list.find((x) => x.name.startsWith('web-') && x.node === node)!;
    const fetchFromClient = async (url: string) => {
      const r = await kubectl(['exec', 'client', '--', 'timeout', '10', 'wget', '-qO-', url]);
      return r.ok ? r.out.trim() : null;
    };

    await t.test('a pod on the agent VM reaches a web pod on the same VM', async () => {
      const w = webOn('agent1', running);
      assert.equal(await until('pod-to-pod on agent1', 60_000, () => fetchFromClient(`http://${w.ip}/`)), w.name);
    });
    await t.test('a pod on the agent VM reaches the web pod on the server VM', { skip: noOverlay }, async () => {
      const w = webOn('server', running);
      assert.equal(await until('pod-to-pod across VMs', 60_000, () => fetchFromClient(`http://${w.ip}/`)), w.name);
    });
    await t.test(
      'a pod on the agent VM resolves the Service name and fetches through it',
      { skip: noProxy || noDns },
      async () => {
        // Both web pods must answer: the one on the client's own VM replies over the bridge, which
        // only br_netfilter (loaded by the agent; Debian does not) lets conntrack un-DNAT.
        const seen = new Set<string>();
        await until('both web pods through web.default.svc.cluster.local', 120_000, async () => {
          const got = await fetchFromClient('http://web.default.svc.cluster.local/');
          if (got) seen.add(got);
          return seen.size === 2;
        });
        assert.deepEqual(
          [...seen].sort(),
          running
            .filter((x) => x.name.startsWith('web-'))
            .map((x) => x.name)
            .sort(),
        );
      },
    );
    await t.test('the agent VM reaches the NodePort on the server VM', { skip: noProxy }, async () => {
      const port = (await kubectl(['get', 'svc', 'web', '-o', 'jsonpath={.spec.ports[0].nodePort}'])).out.trim();
      const r = await vagrant(
        ['ssh', 'agent1', '-c', `busybox timeout 10 busybox wget -qO- http://${SERVER_IP}:${port}/`],
        120_000,
      );
      assert.match(r.stdout, /web-/);
    });

    await t.test('a rebooted agent VM comes back Ready with its pods', async () => {
      const boot = async () =>
        (await kubectl(['get', 'node', 'agent1', '-o', 'jsonpath={.status.nodeInfo.bootID}'])).out.trim();
      const before = await boot();
      assert.ok(before, 'agent1 reports a boot id');
      // A reboot ends every container: the pods on agent1 count only once their containers have
      // started again (the status before the reboot still says Running until the agent reports).
      const startedOnAgent1 = async () => {
        const r = await kubectl([
          'get',
          'pods',
          '--field-selector=spec.nodeName=agent1',
          '-o',
          'jsonpath={range .items[*]}{.metadata.name} {.status.containerStatuses[0].state.running.startedAt}' +
            ' {.status.podIP}{"\\n"}{end}',
        ]);
        return new Map(
          r.out
            .trim()
            .split('\n')
            .filter(Boolean)
            .map((l) => {
              const [name, startedAt, ip] = l.split(' ');
              return [name, { startedAt, ip }] as const;
            }),
        );
      };
      const startedBefore = await startedOnAgent1();
      const r0 = Date.now();
      await vagrant(['ssh', 'agent1', '-c', 'sudo systemctl reboot'], 120_000);
      await until('agent1 Ready after the reboot', 15 * 60_000, async () => {
        const b = await boot();
        const ready = (
          await kubectl(['get', 'node', 'agent1', '-o', 'jsonpath={.status.conditions[?(@.type=="Ready")].status}'])
        ).out;
        return b && b !== before && ready === 'True';
      });
      log(`agent1 rebooted and Ready in ${since(r0)}`);
      const web = webOn('agent1', running).name;
      const again = await until('web and client on agent1 started again after the reboot', 10 * 60_000, async () => {
        const now = await startedOnAgent1();
        const fresh = (name: string) => {
          const n = now.get(name);
          return n?.startedAt && n.ip && n.startedAt !== startedBefore.get(name)?.startedAt;
        };
        return fresh(web) && fresh('client') && now;
      });
      log(`web and client started again ${since(r0)} after the reboot: ${JSON.stringify([...again])}`);
      assert.equal(
        await until('pod-to-pod on agent1 after the reboot', 120_000, async () =>
          fetchFromClient(`http://${(await startedOnAgent1()).get(web)?.ip}/`),
        ),
        web,
      );
      log(`pods back ${since(r0)} after the reboot`);
    });
  } catch (e) {
    consoles();
    if (upStarted) await diagnose().catch((d) => log(`diagnosis failed: ${(d as Error).message}`));
    throw e;
  } finally {
    if (lv) {
      const s = Date.now();
      if (upStarted) await vagrant(['destroy', '-f'], 10 * 60_000);
      await lv.cleanup();
      log(`destroyed and cleaned up in ${since(s)}`);
    }
    rmSync(work, { recursive: true, force: true });
    log(`whole run ${since(t0)}`);
  }
  // Nothing of the test is left: no namespace, no route, no libvirt state.
  const ns = await execa('ip', ['netns', 'list']);
  assert.ok(!String(ns.stdout).includes(NAME), 'the namespace is gone');
  assert.ok(!existsSync(`/var/tmp/${NAME}-libvirt`));
  const routes = String((await execa('ip', ['route', 'show', 'type', 'blackhole'])).stdout);
  for (const r of RANGES.slice(0, 2)) assert.ok(!routes.includes(r), `blackhole ${r} removed`);
});
