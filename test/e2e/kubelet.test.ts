// The kubelet end to end on `skiff sandbox up --nodes 2`, driven by real kubectl: pods run
// under containerd with env and files from ConfigMaps, Secrets and the downward API, shared
// emptyDirs, init containers in order, restart policies with back-off, image errors, OOM
// kills, graceful deletion, adoption after an agent is killed, and a push channel that never
// hands a node another node's Secret.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { execa } from 'execa';
import { ROOT, SKIFF } from '../helpers/server.ts';
import { sandboxClient, until } from '../helpers/sandbox.ts';
import { sandboxName } from '../helpers/names.ts';
import { loadState, restartAgent, type SandboxState } from '../../agent/sandbox/sandbox.ts';
import { pidsOfContainersUnder } from '../../agent/sandbox/cleanup.ts';
import { LOG_MAX_FILES } from '../../agent/kubelet/log-rotation.ts';

const NAME = sandboxName('kube');
let s: SandboxState;
const { skiff, k, onNode, json, podIP, httpGet } = sandboxClient(NAME);

/** Runs a command in a container straight through the node's containerd (no agent in between). */
async function criExec(node: string, id: string, args: string[], timeoutSec = 5) {
  const r = await execa(
    join(ROOT, 'node_modules/.bin/node'),
    [
      '--disable-warning=ExperimentalWarning',
      '-e',
      `import('${join(ROOT, 'agent/cri/client.ts')}').then(async (m) => { const c = new ` +
        `m.CriClient('${join(s.dir, node, 'containerd', 'containerd.sock')}'); const r = await c.execSync(` +
        `'${id}', ${JSON.stringify(args)}, ${timeoutSec}); c.close(); process.exit(r.exit_code); })`,
    ],
    { reject: false, all: true, timeout: (timeoutSec + 30) * 1000 },
  );
  assert.equal(r.exitCode, 0, `exec ${args.join(' ')} in ${id.slice(0, 12)}: ${r.all}`);
}

const containerIdOf = (pod: { status: { containerStatuses: { name: string; containerID: string }[] } }, c: string) =>
  pod.status.containerStatuses.find((x) => x.name === c)!.containerID.replace(/^containerd:\/\//, '');

/**
 * The network namespaces of a node's pods (containerd keeps them under its state directory)
 * whose interfaces hold `ip`: the address is looked up where it lives, in the pod's namespace.
 */
async function netnsHolding(node: string, ip: string): Promise<string[]> {
  const dir = join(s.dir, node, 'containerd', 'state', 'io.containerd.grpc.v1.cri', 'netns');
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  for (const f of readdirSync(dir)) {
    const r = await execa('nsenter', [`--net=${join(dir, f)}`, 'ip', '-br', '-4', 'addr'], {
      reject: false,
      timeout: 10_000,
    });
    if (
      r.exitCode === 0 &&
      String(r.stdout)
        .split(/\s+/)
        .some((w) => w.startsWith(`${ip}/`))
    )
      out.push(join(dir, f));
  }
  return out;
}

before(async () => {
  const up = await skiff(['sandbox', 'up', '--name', NAME, '--nodes', '2']);
  assert.equal(up.exitCode, 0, up.all);
  s = loadState(NAME)!;
});
after(async () => {
  const down = await skiff(['sandbox', 'down', '--name', NAME]);
  assert.equal(down.exitCode, 0, down.all);
  // The agents recreate pods while down removes them; none of their processes may outlive it.
  assert.deepEqual(pidsOfContainersUnder(s.dir), [], 'a container process outlived sandbox down');
});

test(
  'a busybox httpd pod runs and serves HTTP to its node; ' + 'env and files come from ConfigMap, Secret and fieldRefs',
  async () => {
    const apply = await k(
      ['apply', '-f', '-'],
      `
apiVersion: v1
kind: ConfigMap
metadata: {name: cfg}
data: {greeting: hello, page.html: "<h1>v1</h1>"}
---
apiVersion: v1
kind: Secret
metadata: {name: sec}
stringData: {password: s3cret}
---
apiVersion: v1
kind: Pod
metadata: {name: web, labels: {app: web, tier: front}}
spec:
  nodeName: node2
  containers:
  - name: httpd
    image: skiff.local/busybox:1.36
    command: ["sh", "-c", "echo \\"$GREETING $PASSWORD $POD_NAME $POD_NS $NODE $POD_IP $(GREETING)x\\" ` +
        `> /var/www/env.txt; exec httpd -f -p 80 -h /var/www"]
    env:
    - {name: GREETING, valueFrom: {configMapKeyRef: {name: cfg, key: greeting}}}
    - {name: PASSWORD, valueFrom: {secretKeyRef: {name: sec, key: password}}}
    - {name: POD_NAME, valueFrom: {fieldRef: {fieldPath: metadata.name}}}
    - {name: POD_NS, valueFrom: {fieldRef: {fieldPath: metadata.namespace}}}
    - {name: NODE, valueFrom: {fieldRef: {fieldPath: spec.nodeName}}}
    - {name: POD_IP, valueFrom: {fieldRef: {fieldPath: status.podIP}}}
    volumeMounts:
    - {name: conf, mountPath: /var/www/conf}
    - {name: secret, mountPath: /var/www/secret}
    - {name: info, mountPath: /var/www/info}
  volumes:
  - {name: conf, configMap: {name: cfg}}
  - {name: secret, secret: {secretName: sec}}
  - name: info
    downwardAPI:
      items: [{path: labels, fieldRef: {fieldPath: metadata.labels}}]
`,
    );
    assert.equal(apply.exitCode, 0, apply.all);
    const ip = await podIP('web');
    assert.match(ip, /^10\.244\.2\.\d+$/);
    const env = await until('env.txt', async () => (await httpGet('node2', `http://${ip}/env.txt`)) || undefined);
    assert.equal(env.trim(), `hello s3cret web default node2 ${ip} hellox`);
    // And from inside the container itself, through kubectl exec.
    const inside = await k([
      'exec',
      'web',
      '--',
      'sh',
      '-c',
      'echo $GREETING $PASSWORD $POD_NAME $POD_IP; cat /var/www/conf/greeting /var/www/secret/password',
    ]);
    assert.equal(inside.exitCode, 0, inside.all);
    assert.equal(String(inside.stdout), `hello s3cret web ${ip}\nhellos3cret`);
    assert.equal(await httpGet('node2', `http://${ip}/conf/greeting`), 'hello');
    assert.equal(await httpGet('node2', `http://${ip}/secret/password`), 's3cret');
    assert.match(await httpGet('node2', `http://${ip}/info/labels`), /app="web"\ntier="front"/);
    const pod = await json(['get', 'pod', 'web']);
    assert.equal(pod.status.hostIP, s.nodes[1].ip);
    assert.equal(pod.status.qosClass, 'BestEffort');
    assert.deepEqual(
      pod.status.conditions
        // biome-ignore lint/suspicious/noExplicitAny: untyped wire JSON, not yet converted to the typed model
        .filter((c: any) => c.status === 'True')
        // biome-ignore lint/suspicious/noExplicitAny: untyped wire JSON, not yet converted to the typed model
        .map((c: any) => c.type)
        .sort(),
      ['ContainersReady', 'Initialized', 'PodReadyToStartContainers', 'PodScheduled', 'Ready'],
    );
    assert.match(pod.status.containerStatuses[0].containerID, /^containerd:\/\//);
    const table = String((await k(['get', 'pod', 'web', '-o', 'wide'])).stdout);
    assert.match(table, /web\s+1\/1\s+Running\s+0\s+\S+\s+10\.244\.2\.\d+\s+node2/);

    // A changed ConfigMap reaches the mounted file in the running container.
    await k(['patch', 'configmap', 'cfg', '-p', '{"data":{"greeting":"updated"}}']);
    await until(
      'updated file',
      async () => (await httpGet('node2', `http://${ip}/conf/greeting`)) === 'updated',
      30_000,
    );
    assert.equal(
      JSON.parse(String((await k(['get', 'pod', 'web', '-o', 'json'])).stdout)).status.containerStatuses[0]
        .restartCount,
      0,
      'no restart for a ConfigMap change',
    );
  },
);

test('two containers share an emptyDir; init containers run in order before them', async () => {
  await k(
    ['apply', '-f', '-'],
    `
apiVersion: v1
kind: Pod
metadata: {name: shared}
spec:
  nodeName: node1
  initContainers:
  - {name: first, image: skiff.local/busybox:1.36, command: ["sh", "-c", "echo first > /data/order"], ` +
      `volumeMounts: [{name: data, mountPath: /data}]}
  - {name: second, image: skiff.local/busybox:1.36, command: ["sh", "-c", "echo second >> /data/order"], ` +
      `volumeMounts: [{name: data, mountPath: /data}]}
  containers:
  - {name: writer, image: skiff.local/busybox:1.36, command: ["sh", "-c", "while true; do date +%s > ` +
      `/data/now; sleep 1; done"], volumeMounts: [{name: data, mountPath: /data}]}
  - {name: server, image: skiff.local/busybox:1.36, command: ["httpd", "-f", "-p", "8080", "-h", "/data"],` +
      ` volumeMounts: [{name: data, mountPath: /data}]}
  volumes: [{name: data, emptyDir: {}}]
`,
  );
  const ip = await podIP('shared');
  assert.equal(
    await until('order', async () => (await httpGet('node1', `http://${ip}:8080/order`)) || undefined),
    'first\nsecond',
  );
  const now = await until('now', async () => (await httpGet('node1', `http://${ip}:8080/now`)) || undefined);
  assert.ok(Math.abs(Number(now) - Date.now() / 1000) < 30, 'the writer writes what the server serves');
  const pod = await json(['get', 'pod', 'shared']);
  assert.deepEqual(
    // biome-ignore lint/suspicious/noExplicitAny: untyped wire JSON, not yet converted to the typed model
    pod.status.initContainerStatuses.map((c: any) => [c.name, c.state.terminated?.reason]),
    [
      ['first', 'Completed'],
      ['second', 'Completed'],
    ],
  );
  assert.match(String((await k(['get', 'pod', 'shared'])).stdout), /shared\s+2\/2\s+Running/);
});

test(
  'restart policies: Always restarts with back-off, OnFailure and Never stop; image and memory failures are ' +
    'reported',
  async () => {
    await k(
      ['apply', '-f', '-'],
      `
apiVersion: v1
kind: Pod
metadata: {name: crash}
spec:
  nodeName: node1
  containers: [{name: c, image: skiff.local/busybox:1.36, command: ["sh", "-c", "echo boom; exit 3"]}]
---
apiVersion: v1
kind: Pod
metadata: {name: onfailure}
spec:
  nodeName: node1
  restartPolicy: OnFailure
  containers: [{name: c, image: skiff.local/busybox:1.36, command: ["sh", "-c", "test -f /data/again && ` +
        `exit 0; touch /data/again; exit 1"], volumeMounts: [{name: data, mountPath: /data}]}]
  volumes: [{name: data, emptyDir: {}}]
---
apiVersion: v1
kind: Pod
metadata: {name: never}
spec:
  nodeName: node2
  restartPolicy: Never
  containers: [{name: c, image: skiff.local/busybox:1.36, command: ["sh", "-c", "exit 7"]}]
---
apiVersion: v1
kind: Pod
metadata: {name: noimage}
spec:
  nodeName: node2
  containers: [{name: c, image: skiff.local/not-there:1}]
---
apiVersion: v1
kind: Pod
metadata: {name: hog}
spec:
  nodeName: node2
  restartPolicy: Never
  containers:
  - name: c
    image: skiff.local/busybox:1.36
    command: ["sh", "-c", "a=$(head -c 104857600 /dev/zero | tr '\\\\000' a); echo done"]
    resources: {limits: {memory: 32Mi}}
`,
    );
    const crash = await until('CrashLoopBackOff', async () => {
      const p = await json(['get', 'pod', 'crash']);
      const c = p.status?.containerStatuses?.[0];
      return c?.restartCount >= 1 && c.state?.waiting?.reason === 'CrashLoopBackOff' ? c : undefined;
    });
    assert.equal(crash.lastState.terminated.exitCode, 3);
    assert.equal(crash.lastState.terminated.reason, 'Error');
    assert.match(crash.state.waiting.message, /back-off \d+s restarting failed container=c/);
    const on = await until('OnFailure succeeds on the second run', async () => {
      const p = await json(['get', 'pod', 'onfailure']);
      return p.status?.phase === 'Succeeded' ? p : undefined;
    });
    assert.equal(on.status.containerStatuses[0].restartCount, 1);
    const nv = await until('Never fails', async () => {
      const p = await json(['get', 'pod', 'never']);
      return p.status?.phase === 'Failed' ? p : undefined;
    });
    assert.equal(nv.status.containerStatuses[0].state.terminated.exitCode, 7);
    assert.equal(nv.status.containerStatuses[0].restartCount, 0);
    const img = await until('image pull error', async () => {
      const p = await json(['get', 'pod', 'noimage']);
      const r = p.status?.containerStatuses?.[0]?.state?.waiting?.reason;
      return r === 'ErrImagePull' || r === 'ImagePullBackOff' ? r : undefined;
    });
    assert.match(img, /ErrImagePull|ImagePullBackOff/);
    const oom = await until('OOMKilled', async () => {
      const p = await json(['get', 'pod', 'hog']);
      return p.status?.containerStatuses?.[0]?.state?.terminated;
    });
    assert.equal(oom.reason, 'OOMKilled');
    const table = String((await k(['get', 'pods'])).stdout);
    assert.match(table, /never\s+0\/1\s+Error/);
    assert.match(table, /onfailure\s+0\/1\s+Completed/);
    assert.match(table, /hog\s+0\/1\s+OOMKilled/);
  },
);

test('probes: liveness failure restarts the container; readiness drives Ready and comes back', async () => {
  await k(
    ['apply', '-f', '-'],
    `
apiVersion: v1
kind: Pod
metadata: {name: live}
spec:
  nodeName: node1
  containers:
  - name: c
    image: skiff.local/busybox:1.36
    command: ["sh", "-c", "touch /tmp/healthy; sleep 2; rm /tmp/healthy; sleep 3600"]
    livenessProbe: {exec: {command: [cat, /tmp/healthy]}, periodSeconds: 1, failureThreshold: 2}
---
apiVersion: v1
kind: Pod
metadata: {name: ready}
spec:
  nodeName: node2
  containers:
  - name: web
    image: skiff.local/busybox:1.36
    command: ["httpd", "-f", "-p", "8080", "-h", "/var/www"]
    ports: [{name: http, containerPort: 8080}]
    readinessProbe: {httpGet: {path: /ready.html, port: http}, periodSeconds: 1, failureThreshold: 1}
  - name: helper
    image: skiff.local/busybox:1.36
    command: ["sh", "-c", "sleep 3600"]
    volumeMounts: [{name: www, mountPath: /www}]
  volumes: [{name: www, emptyDir: {}}]
`,
  );
  const restarted = await until(
    'liveness restart',
    async () => {
      const p = await json(['get', 'pod', 'live']);
      return (p.status?.containerStatuses?.[0]?.restartCount ?? 0) >= 1 ? p : undefined;
    },
    90_000,
  );
  assert.ok(restarted.status.containerStatuses[0].lastState.terminated, 'the killed instance is in lastState');
  await podIP('ready');
  const readyCond = async () =>
    // biome-ignore lint/suspicious/noExplicitAny: untyped wire JSON, not yet converted to the typed model
    (await json(['get', 'pod', 'ready'])).status.conditions.find((c: any) => c.type === 'Ready').status;
  // Ready=False is also the state before any probe ran: first see the readiness probe fail.
  await until(
    'a failed readiness probe of ready/web',
    async () =>
      (await json(['get', 'events', '--field-selector', 'involvedObject.name=ready,reason=Unhealthy'])).items.some(
        // biome-ignore lint/suspicious/noExplicitAny: untyped wire JSON, not yet converted to the typed model
        (e: any) => e.involvedObject.fieldPath === 'spec.containers{web}' && /^Readiness probe failed/.test(e.message),
      ),
    20_000,
  );
  assert.equal(await readyCond(), 'False', 'not ready while /ready.html is missing');
  assert.match(String((await k(['get', 'pod', 'ready'])).stdout), /ready\s+1\/2\s+Running/);
  const id = containerIdOf(await json(['get', 'pod', 'ready']), 'web');
  const crictl = (args: string[]) => criExec('node2', id, args);
  await crictl(['sh', '-c', 'echo ok > /var/www/ready.html']);
  await until('Ready=True', async () => (await readyCond()) === 'True', 20_000);
  await crictl(['rm', '/var/www/ready.html']);
  await until('Ready=False again', async () => (await readyCond()) === 'False', 20_000);
  await crictl(['sh', '-c', 'echo ok > /var/www/ready.html']);
  await until('Ready=True again', async () => (await readyCond()) === 'True', 20_000);
  assert.equal(
    // biome-ignore lint/suspicious/noExplicitAny: untyped wire JSON, not yet converted to the typed model
    (await json(['get', 'pod', 'ready'])).status.containerStatuses.find((c: any) => c.name === 'web').restartCount,
    0,
    'readiness never restarts',
  );
});

test("kubectl logs: whole, --tail, --timestamps, --previous and -f, through the agent's tunnel", async () => {
  await k(
    ['apply', '-f', '-'],
    `
apiVersion: v1
kind: Pod
metadata: {name: talker}
spec:
  nodeName: node2
  containers:
  - {name: c, image: skiff.local/busybox:1.36, command: ["sh", "-c", "for i in 1 2 3; do echo line $i; ` +
      `done; echo oops >&2; i=4; while true; do sleep 1; echo tick $i; i=$((i+1)); done"]}
`,
  );
  await podIP('talker');
  const logs = await until('logs', async () => {
    const r = String((await k(['logs', 'talker'])).stdout);
    return r.includes('oops') && r.includes('tick 4') ? r : undefined;
  });
  // stdout and stderr are separate pipes: their lines interleave by arrival, each stream in order.
  assert.match(
    logs
      .split('\n')
      .filter((l) => l !== 'oops')
      .join('\n'),
    /^line 1\nline 2\nline 3\ntick 4/,
  );
  assert.ok(logs.split('\n').includes('oops'), 'stderr is in the log');
  assert.equal(String((await k(['logs', 'talker', '--tail=2'])).stdout).split('\n').length, 2);
  assert.match(
    String((await k(['logs', 'talker', '--timestamps', '--tail=1'])).stdout),
    /^\d{4}-\d\d-\d\dT\S+ tick \d+$/,
  );
  const follow = execa(SKIFF, ['sandbox', 'kubectl', '--name', NAME, '--', 'logs', '-f', 'talker', '--tail=1'], {
    reject: false,
  });
  let seen = '';
  follow.stdout!.on('data', (c: Buffer) => {
    seen += c.toString();
  });
  await until('two new lines while following', async () => (seen.match(/tick/g) ?? []).length >= 3, 15_000);
  follow.kill();
  await follow;
  const prev = await until('previous instance of the crash pod', async () => {
    const r = await k(['logs', 'crash', '--previous']);
    return r.exitCode === 0 ? String(r.stdout) : undefined;
  });
  assert.equal(prev, 'boom');
  const bad = await k(['get', '--raw', '/api/v1/namespaces/default/pods/shared/log']);
  assert.match(String(bad.all), /a container name must be specified for pod shared, choose one of: \[writer server\]/);
});

test('deletion stops the containers with TERM within the grace period and removes the pod', async () => {
  // The container answers TERM by leaving a mark and exiting; a SIGKILL at the end of the 30 s
  // grace period leaves no mark and takes the whole period.
  const out = `/tmp/skiff-e2e-${NAME}-grace`;
  await execa('rm', ['-rf', out]);
  await k(
    ['apply', '-f', '-'],
    `
apiVersion: v1
kind: Pod
metadata: {name: graceful}
spec:
  nodeName: node1
  terminationGracePeriodSeconds: 30
  containers:
  - name: c
    image: skiff.local/busybox:1.36
    command: ["sh", "-c", "trap 'echo term > /out/term; exit 42' TERM; while true; do sleep 0.2; done"]
    volumeMounts: [{name: out, mountPath: /out}]
    lifecycle: {preStop: {exec: {command: ["sh", "-c", "echo prestop-ran > /out/hook"]}}}
  volumes: [{name: out, hostPath: {path: ${out}, type: DirectoryOrCreate}}]
`,
  );
  const ip = await podIP('graceful');
  const [netns, ...more] = await netnsHolding('node1', ip);
  assert.ok(netns && !more.length, `the pod address ${ip} lives in one pod network namespace`);
  const id = containerIdOf(await json(['get', 'pod', 'graceful']), 'c');
  const t0 = Date.now();
  const del = await k(['delete', 'pod', 'graceful', '--timeout=60s']);
  const took = Date.now() - t0;
  assert.equal(del.exitCode, 0, del.all);
  try {
    assert.equal(readFileSync(join(out, 'hook'), 'utf8').trim(), 'prestop-ran', 'preStop ran before the stop');
    assert.equal(existsSync(join(out, 'term')) && readFileSync(join(out, 'term'), 'utf8').trim(), 'term', 'TERM came');
    assert.ok(took < 15_000, `TERM was honoured well within the 30 s grace period (took ${took} ms)`);
    // The agent logs each container's exit status: the trap's own 42, not SIGKILL's 137.
    const exit = await until(
      'the exit of graceful/c in the agent log',
      async () =>
        readFileSync(join(s.dir, 'agent-node1.log'), 'utf8').match(
          new RegExp(`container ${id.slice(0, 12)} exited with status (\\d+)`),
        )?.[1],
      10_000,
    );
    assert.equal(exit, '42', 'the container ended through its TERM trap');
  } finally {
    await execa('rm', ['-rf', out]);
  }
  assert.match(String((await k(['get', 'pod', 'graceful'])).all), /NotFound/);
  assert.deepEqual(await netnsHolding('node1', ip), [], 'the pod address is gone with its namespace');
});

test('after kill -9 of the agent the new one adopts the running pods without restarting them', async () => {
  // A pod whose second container ends on request: only a running agent can see that and report it.
  await k(
    ['apply', '-f', '-'],
    `
apiVersion: v1
kind: Pod
metadata: {name: adopted}
spec:
  nodeName: node2
  containers:
  - {name: keep, image: skiff.local/busybox:1.36, command: ["sleep", "3600"]}
  - {name: ender, image: skiff.local/busybox:1.36, command: ["sh", "-c", "until [ -f /tmp/end ]; do sleep 0.2; done; ` +
      `exit 5"]}
`,
  );
  await podIP('adopted');
  const running = await until('adopted/ender running', async () => {
    const p = await json(['get', 'pod', 'adopted']);
    // biome-ignore lint/suspicious/noExplicitAny: untyped wire JSON, not yet converted to the typed model
    return p.status.containerStatuses?.every((c: any) => c.state?.running) && p;
  });
  const web = (await json(['get', 'pod', 'web'])).status.containerStatuses[0].containerID;
  const keep = containerIdOf(running, 'keep');
  await restartAgent(NAME, 'node2');
  // The old agent is gone (SIGKILL): what follows can only be seen and reported by the new one.
  await criExec('node2', containerIdOf(running, 'ender'), ['touch', '/tmp/end']);
  // biome-ignore lint/suspicious/noExplicitAny: untyped wire JSON, not yet converted to the typed model
  const named = (p: any, name: string) => p.status.containerStatuses.find((x: any) => x.name === name);
  const after = await until(
    'the new agent to report the restart of adopted/ender',
    async () => {
      const p = await json(['get', 'pod', 'adopted']);
      return named(p, 'ender').restartCount >= 1 && named(p, 'ender').state?.running && p;
    },
    60_000,
  );
  assert.equal(containerIdOf(after, 'keep'), keep, 'the adopted container was not restarted');
  assert.equal(named(after, 'keep').restartCount, 0);
  assert.equal(named(after, 'ender').restartCount, 1);
  assert.equal(named(after, 'ender').lastState?.terminated?.exitCode, 5, 'ender ended on its own, as asked');
  assert.equal(after.status.phase, 'Running');
  const pod = await json(['get', 'pod', 'web']);
  assert.equal(pod.status.containerStatuses[0].containerID, web, 'same container');
  assert.equal(pod.status.containerStatuses[0].restartCount, 0);
  assert.equal(pod.status.phase, 'Running');
  assert.match(await httpGet('node2', `http://${pod.status.podIP}/conf/greeting`), /updated/);
  await k(['delete', 'pod', 'adopted', '--grace-period=1', '--wait=false']);
});

test('a changed image restarts only that container', async () => {
  await k(
    ['apply', '-f', '-'],
    `
apiVersion: v1
kind: Pod
metadata: {name: retag}
spec:
  nodeName: node1
  terminationGracePeriodSeconds: 2
  containers:
  - {name: a, image: skiff.local/busybox:1.36, command: ["sleep", "3600"]}
  - {name: b, image: skiff.local/busybox:1.36, command: ["sleep", "3600"]}
`,
  );
  await podIP('retag');
  const before = await until('retag running', async () => {
    const p = await json(['get', 'pod', 'retag']);
    // biome-ignore lint/suspicious/noExplicitAny: untyped wire JSON, not yet converted to the typed model
    return p.status.containerStatuses?.every((c: any) => c.state?.running) && p;
  });
  const set = await k(['set', 'image', 'pod/retag', 'a=skiff.local/busybox:latest']);
  assert.equal(set.exitCode, 0, set.all);
  const after = await until(
    'a running again from the new image',
    async () => {
      const p = await json(['get', 'pod', 'retag']);
      // biome-ignore lint/suspicious/noExplicitAny: untyped wire JSON, not yet converted to the typed model
      const a = p.status.containerStatuses.find((c: any) => c.name === 'a');
      return a.restartCount === 1 && a.state?.running && p;
    },
    60_000,
  );
  assert.notEqual(containerIdOf(after, 'a'), containerIdOf(before, 'a'));
  assert.equal(containerIdOf(after, 'b'), containerIdOf(before, 'b'), 'the other container runs on');
  await k(['delete', 'pod', 'retag', '--grace-period=1', '--wait=false']);
});

test("the push channel never sends a node another node's pods or Secrets", async () => {
  await k(
    ['apply', '-f', '-'],
    `
apiVersion: v1
kind: Secret
metadata: {name: only-node1}
stringData: {k: v}
---
apiVersion: v1
kind: Pod
metadata: {name: uses-secret}
spec:
  nodeName: node1
  containers: [{name: c, image: skiff.local/busybox:1.36, command: ["sleep", "3600"], env: [{name: X, ` +
      `valueFrom: {secretKeyRef: {name: only-node1, key: k}}}]}]
`,
  );
  await podIP('uses-secret');
  const dump = async (node: string) => {
    const n = s.nodes.find((x) => x.name === node)!;
    const r = await onNode(node, [
      join(ROOT, 'node_modules/.bin/node'),
      '--disable-warning=ExperimentalWarning',
      join(ROOT, 'test/helpers/channel-dump.ts'),
      join(s.dir, n.name, 'credentials.json'),
      `${s.nodes[0].ip}:6444`,
      node,
    ]);
    return JSON.parse(String(r.stdout));
  };
  const n1 = await dump('node1'),
    n2 = await dump('node2');
  assert.ok(n1.secrets.includes('default/only-node1'));
  assert.ok(!n2.secrets.includes('default/only-node1'), "node2 never receives node1's secret");
  assert.ok(n2.secrets.includes('default/sec'), 'node2 gets the secret its own pod uses');
  assert.ok(n1.pods.includes('default/uses-secret') && !n2.pods.includes('default/uses-secret'));
  assert.ok(!n1.pods.includes('default/web'));
  // The network view: every Node and Service; of Secrets only the node's own and Ingress TLS ones.
  assert.ok(
    n1.network.synced && n1.network.nodes.includes('node2') && n1.network.services.includes('default/kubernetes'),
  );
  assert.ok(n2.network.secrets.includes('default/sec') && !n2.network.secrets.includes('default/only-node1'));
  await k(
    ['apply', '-f', '-'],
    `
apiVersion: v1
kind: Secret
metadata: {name: site-tls}
type: kubernetes.io/tls
stringData: {tls.crt: c, tls.key: k}
---
apiVersion: v1
kind: Secret
metadata: {name: unrelated}
stringData: {k: v}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: site}
spec:
  tls: [{hosts: [site.example], secretName: site-tls}]
  rules: [{host: site.example, http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: web, ` +
      `port: {number: 80}}}}]}}]
`,
  );
  const withIngress = await dump('node2');
  assert.ok(withIngress.network.secrets.includes('default/site-tls'), 'a TLS Secret an Ingress names is sent');
  assert.ok(!withIngress.network.secrets.includes('default/unrelated'), 'an unrelated Secret is not');
  await k(['delete', 'ingress', 'site']);
  const without = await dump('node2');
  assert.ok(!without.network.secrets.includes('default/site-tls'), 'no longer named, no longer sent');
  // And a node's credential cannot subscribe as another node.
  const stolen = await onNode('node2', [
    join(ROOT, 'node_modules/.bin/node'),
    '--disable-warning=ExperimentalWarning',
    join(ROOT, 'test/helpers/channel-dump.ts'),
    join(s.dir, 'node2', 'credentials.json'),
    `${s.nodes[0].ip}:6444`,
    'node1',
  ]);
  assert.match(String(stolen.all), /may not watch node node1/);
});

const rotationTitle =
  `container logs rotate past 10 MiB (ReopenContainerLog), ${LOG_MAX_FILES} files stay, ` + 'and kubectl logs goes on';
test(rotationTitle, async () => {
  await k(
    ['apply', '-f', '-'],
    `
apiVersion: v1
kind: Pod
metadata: {name: chatty}
spec:
  nodeName: node1
  containers: [{name: c, image: skiff.local/busybox:1.36, command: [sleep, "3600"]}]
`,
  );
  await podIP('chatty');
  const pod = await json(['get', 'pod', 'chatty']);
  const id = containerIdOf(pod, 'c');
  const dir = join(s.dir, 'node1', 'pods-logs', `default_chatty_${pod.metadata.uid}`, 'c');
  const rotated = new Set<string>();
  // One more rotation than there are files to keep: the oldest rotated files must go.
  for (let i = 1; i <= LOG_MAX_FILES + 1; i++) {
    // 11 MiB on the container's stdout, written through its main process's pipe.
    await criExec('node1', id, ['sh', '-c', `yes ${'x'.repeat(120)} | head -n 95000 > /proc/1/fd/1`], 60);
    await until(
      `rotation ${i}`,
      async () => {
        for (const f of readdirSync(dir)) if (/^0\.log\.\d{8}-\d{6}$/.test(f)) rotated.add(f);
        return rotated.size >= i;
      },
      40_000,
    );
  }
  const files = readdirSync(dir).sort();
  assert.equal(files.length, LOG_MAX_FILES, files.join(' '));
  assert.ok(files.includes('0.log'), 'the runtime reopened the live file');
  const oldest = [...rotated].sort().slice(0, rotated.size - (LOG_MAX_FILES - 1));
  assert.ok(!oldest.some((f) => files.includes(f)), `the oldest rotated files are gone: ${files.join(' ')}`);
  await criExec('node1', id, ['sh', '-c', 'echo after-rotation > /proc/1/fd/1']);
  await until(
    'logs written after the rotation',
    async () => String((await k(['logs', 'chatty', '--tail=1'])).stdout).trim() === 'after-rotation',
    40_000,
  );
});

test(
  'hostPort: a node port reaches the pod from other nodes and the node itself; a taken port is refused; ' +
    'runAsNonRoot is enforced',
  async () => {
    const pod = (name: string) => `
apiVersion: v1
kind: Pod
metadata: {name: ${name}}
spec:
  nodeName: node1
  containers:
  - name: web
    image: skiff.local/busybox:1.36
    command: [sh, -c, 'mkdir -p /www && echo via-hostport > /www/index.html && exec httpd -f -p 8080 -h /www']
    ports: [{containerPort: 8080, hostPort: 30080}]
`;
    await k(['apply', '-f', '-'], pod('hp1'));
    await podIP('hp1');
    const node1 = s.nodes[0].ip;
    assert.equal((await httpGet('node2', `http://${node1}:30080/`)).trim(), 'via-hostport');
    assert.equal((await httpGet('node1', `http://${node1}:30080/`)).trim(), 'via-hostport');
    await k(['apply', '-f', '-'], pod('hp2'));
    const waiting = await until(
      'hp2 to report the port conflict',
      async () => {
        const p = await json(['get', 'pod', 'hp2']);
        const w = p.status?.containerStatuses?.[0]?.state?.waiting;
        return w?.message?.includes('already mapped') && w;
      },
      30_000,
    );
    assert.equal(waiting.reason, 'ContainerCreating');
    await k(['delete', 'pod', 'hp1', 'hp2', '--grace-period=1', '--wait=true']);
    const map = await onNode('node1', ['nft', 'list', 'map', 'ip', 'skiff-hostport', 'ports']);
    assert.doesNotMatch(String(map.stdout), /30080/);

    await k(
      ['apply', '-f', '-'],
      `
apiVersion: v1
kind: Pod
metadata: {name: nonroot}
spec:
  nodeName: node1
  securityContext: {runAsNonRoot: true}
  containers:
  - {name: as-image, image: skiff.local/busybox:1.36, command: [sleep, "3600"]}
  - {name: as-1000, image: skiff.local/busybox:1.36, command: [sleep, "3600"], securityContext: {runAsUser: 1000}}
`,
    );
    const st = await until(
      'the non-root verdicts',
      async () => {
        const p = await json(['get', 'pod', 'nonroot']);
        // biome-ignore lint/suspicious/noExplicitAny: untyped wire JSON, not yet converted to the typed model
        const cs = Object.fromEntries((p.status?.containerStatuses ?? []).map((c: any) => [c.name, c]));
        return (
          cs['as-image']?.state?.waiting?.reason === 'CreateContainerConfigError' && cs['as-1000']?.state?.running && cs
        );
      },
      30_000,
    );
    assert.match(st['as-image'].state.waiting.message, /container has runAsNonRoot and image will run as root/);
  },
);
