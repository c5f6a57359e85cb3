// The pod workers: a level-triggered loop that makes the runtime match the node's desired pods
// (from the push channel): sandboxes and containers through CRI, volumes, restarts with
// back-off, graceful deletion, orphan removal, and the pod status sent back through the API.
// One relist (every second, on channel changes, and on containerd's task-exit events) hands
// each pod to its own worker, so a slow pod (a long grace period, a pull) holds up no other.
import { join } from 'node:path';
import { mkdirSync, readFileSync } from 'node:fs';
import type { CriClient } from '../cri/client.ts';
import { ApiStatusError, type ApiClient } from '../api.ts';
import type { DesiredState } from '../channel.ts';
import { Backoff, type BackoffEntry } from './backoff.ts';
import { expandCommand, fieldRef, resolveEnv, EnvError } from './env.ts';
import { computeStatus, type PodRuntime, type RuntimeContainer } from './status.ts';
import {
  ANNOTATION,
  LABEL,
  containerConfig,
  nonRootViolation,
  sandboxConfig,
  type CriConfig,
  type NodeSettings,
} from './pod-spec.ts';
import { prepareVolume, removePodVolumes, VolumeError } from './volumes.ts';
import { Prober } from './prober.ts';
import { runProbe } from './probe.ts';
import type {
  Condition,
  PersistentVolume,
  PersistentVolumeClaim,
  Pod,
  Volume,
} from '../../controlplane/shared/kube/index.ts';
import {
  computePodActions,
  type ObservedContainer,
  type PodActions,
  type PodObservation,
  type StartContainer,
} from './pod-actions.ts';
import { podRef, type EventRecorder, type EventType } from './events.ts';

export interface KubeletOptions {
  nodeName: string;
  nodeIP: string;
  dataDir: string;
  cri: CriClient;
  api: ApiClient;
  state: DesiredState;
  events: EventRecorder;
  clusterDNS?: string;
  clusterDomain?: string;
  log: (s: string) => void;
}

const nsToIso = (ns: string | number | undefined) => {
  const n = BigInt(ns ?? 0);
  return n > 0n ? new Date(Number(n / 1000000n)).toISOString().replace(/\.\d+Z$/, 'Z') : undefined;
};
const nowIso = () => new Date().toISOString().replace(/\.\d+Z$/, 'Z');

function hostResolv(): NodeSettings['hostResolv'] {
  try {
    const text = readFileSync('/etc/resolv.conf', 'utf8');
    const servers: string[] = [],
      searches: string[] = [],
      options: string[] = [];
    for (const l of text.split('\n')) {
      const [k, ...v] = l.trim().split(/\s+/);
      if (k === 'nameserver') servers.push(v[0]);
      else if (k === 'search') searches.push(...v);
      else if (k === 'options') options.push(...v);
    }
    return { servers, searches, options };
  } catch {
    return undefined;
  }
}

/** A pod sandbox as CRI's ListPodSandbox shows it (the fields the kubelet reads). */
interface CriSandbox {
  id: string;
  state: string;
  metadata?: { attempt?: number | string; uid?: string };
  labels?: Record<string, string>;
}

/** A container as CRI's ListContainers shows it (the fields the kubelet reads). */
interface CriContainer {
  id: string;
  pod_sandbox_id: string;
  state: RuntimeContainer['state'];
  metadata?: { name?: string; attempt?: number | string };
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

/** What the runtime holds of one pod. */
interface RuntimePod {
  sandboxes: CriSandbox[];
  containers: CriContainer[];
}

/** What starting one of a pod's containers needs besides its spec. */
interface StartContext {
  pod: Pod;
  sandboxId: string;
  sandboxConfig: CriConfig;
  podIP: string;
  podDir: string;
  volumePaths: Map<string, string>;
  now: number;
}

const containerName = (c: CriContainer) => c.metadata?.name ?? c.labels?.[LABEL.container] ?? '';

/** A pod being stopped: its grace, its deadline (ms) and a wake-up for when a delete shortens them. */
interface Terminating {
  grace: number;
  deadline: number;
  containers: CriContainer[];
  wake: () => void;
}

export class Kubelet {
  private o: KubeletOptions;
  private node: NodeSettings;
  private backoff = new Backoff();
  private waiting = new Map<string, Map<string, { reason: string; message: string }>>();
  private reported = new Map<string, string>();
  private statusCache = new Map<string, RuntimeContainer>();
  private sandboxIPs = new Map<string, string>();
  private busy = false;
  private again = false;
  private timer: NodeJS.Timeout | null = null;
  private workers = new Map<string, { again: boolean }>();
  private prober = new Prober();
  private terminating = new Map<string, Terminating>();
  /** Probed containers by id: whose pod and container, for their events. */
  private probed = new Map<string, { pod: Pod; name: string }>();
  /** Containers killed for a failed probe, while they still show as running. */
  private killed = new Set<string>();
  /** The last token announced per key (see once()). */
  private announced = new Map<string, string>();

  constructor(o: KubeletOptions) {
    this.o = o;
    // A failed liveness or startup probe kills the container; the next sync restarts it per policy.
    this.prober.onUnhealthy = (id, kind, message) => {
      this.o.log(`container ${id.slice(0, 12)}: ${message}; killing it`);
      const t = this.probed.get(id);
      if (t)
        this.event(t.pod, t.name, 'Normal', 'Killing', `Container ${t.name} failed ${kind} probe, will be restarted`);
      // Until the relist shows it stopped, the container is not probed (or killed) again.
      this.killed.add(id);
      void this.o.cri
        .stopContainer(id, 2)
        .catch(() => {})
        .finally(() => this.kick());
    };
    this.prober.onChange = () => this.kick();
    this.prober.onFailure = (id, kind, message) => {
      const t = this.probed.get(id);
      const what = kind === 'liveness' ? 'Liveness' : kind === 'readiness' ? 'Readiness' : 'Startup';
      if (t) this.event(t.pod, t.name, 'Warning', 'Unhealthy', `${what} probe failed: ${message}`);
    };
    this.node = {
      nodeName: o.nodeName,
      clusterDNS: o.clusterDNS ?? '10.96.0.10',
      clusterDomain: o.clusterDomain ?? 'cluster.local',
      logRoot: join(o.dataDir, 'pods-logs'),
      hostResolv: hostResolv(),
    };
    mkdirSync(this.node.logRoot, { recursive: true });
  }

  start() {
    this.o.state.onChange(() => this.kick());
    this.timer = setInterval(() => this.kick(), 1000);
    this.kick();
  }

  stop() {
    if (this.timer) clearInterval(this.timer);
  }

  kick() {
    if (this.busy) {
      this.again = true;
      return;
    }
    this.busy = true;
    this.syncAll()
      .catch((e) => this.o.log(`sync: ${(e as Error).message}`))
      .finally(() => {
        this.busy = false;
        if (this.again) {
          this.again = false;
          this.kick();
        }
      });
  }

  private async syncAll() {
    const sandboxes = (await this.o.cri.listPodSandbox()).items as CriSandbox[];
    const containers = (await this.o.cri.listContainers()).containers as CriContainer[];
    const byUid = new Map<string, RuntimePod>();
    const slot = (uid: string) => {
      let e = byUid.get(uid);
      if (!e) byUid.set(uid, (e = { sandboxes: [], containers: [] }));
      return e;
    };
    for (const s of sandboxes) slot(s.labels?.[LABEL.podUid] ?? s.metadata?.uid ?? '').sandboxes.push(s);
    for (const c of containers) slot(c.labels?.[LABEL.podUid] ?? '').containers.push(c);
    const running = new Set(containers.filter((c) => c.state === 'CONTAINER_RUNNING').map((c) => c.id));
    this.prober.prune(running);
    for (const id of this.probed.keys()) if (!running.has(id)) this.probed.delete(id);
    for (const id of this.killed) if (!running.has(id)) this.killed.delete(id);
    const present = new Set(containers.map((c) => c.id));
    for (const id of this.statusCache.keys()) if (!present.has(id)) this.statusCache.delete(id);
    const desired = [...this.o.state.pods.values()] as Pod[];
    const wanted = new Set(desired.map((p) => p.metadata.uid));
    for (const p of desired) {
      const uid = p.metadata.uid ?? '';
      if (p.metadata.deletionTimestamp) this.shorten(p);
      this.work(uid, `pod ${p.metadata.namespace}/${p.metadata.name}`, () =>
        this.syncPod(p, byUid.get(uid) ?? { sandboxes: [], containers: [] }),
      );
    }
    // Orphans: runtime pods nobody wants any more (only once the desired state is known).
    if (!this.o.state.synced) return;
    for (const [uid, rt] of byUid) {
      if (!uid || wanted.has(uid)) continue;
      this.work(uid, `orphan ${uid}`, async () => {
        const running = rt.containers.filter((c) => c.state === 'CONTAINER_RUNNING');
        await this.killPod(
          rt.sandboxes.map((s) => s.id),
          running.map((c) => c.id),
          2,
        );
        removePodVolumes(join(this.o.dataDir, 'pods', uid));
        this.forget(uid);
      });
    }
  }

  /** Runs a pod's sync on its worker; a sync asked for while one runs is redone (after a fresh relist). */
  private work(uid: string, what: string, fn: () => Promise<void>) {
    const w = this.workers.get(uid);
    if (w) {
      w.again = true;
      return;
    }
    const mine = { again: false };
    this.workers.set(uid, mine);
    fn()
      .catch((e) => this.o.log(`${what}: ${(e as Error).message}`))
      .finally(() => {
        this.workers.delete(uid);
        if (mine.again) this.kick();
      });
  }

  /**
   * A second delete with a shorter grace period (the pod's new deletionGracePeriodSeconds) while
   * the pod is stopping: the earlier deadline wins, its containers are stopped again with it.
   */
  private shorten(pod: Pod) {
    const t = this.terminating.get(pod.metadata.uid!);
    const grace = Number(pod.metadata.deletionGracePeriodSeconds);
    if (!t || !Number.isFinite(grace) || grace >= t.grace) return;
    t.grace = grace;
    const deadline = Date.now() + grace * 1000;
    if (deadline >= t.deadline) return;
    t.deadline = deadline;
    t.wake();
    for (const c of t.containers)
      if (c.state === 'CONTAINER_RUNNING') void this.o.cri.stopContainer(c.id, grace).catch(() => {});
  }

  private event(pod: Pod, container: string | undefined, type: EventType, reason: string, message: string) {
    this.o.events.record(podRef(pod, container), type, reason, message);
  }

  /** Runs fn when key's token changes: events for a state entered, not for every sync that finds it. */
  private once(key: string, token: string, fn: () => void) {
    if (this.announced.get(key) === token) return;
    this.announced.set(key, token);
    fn();
  }

  private forget(uid: string) {
    for (const k of this.announced.keys()) if (k.startsWith(`${uid}/`)) this.announced.delete(k);
    this.claimVolumes.delete(uid);
    this.backoff.forget(uid);
    this.waiting.delete(uid);
    this.reported.delete(uid);
  }

  /** Stops containers (TERM, KILL after graceSec) and then stops and removes sandboxes, by id. */
  private async killPod(sandboxIds: string[], containerIds: string[], graceSec: number) {
    await Promise.all(containerIds.map((id) => this.o.cri.stopContainer(id, graceSec).catch(() => {})));
    for (const id of sandboxIds) {
      await this.o.cri.stopPodSandbox(id).catch(() => {});
      await this.o.cri.removePodSandbox(id).catch(() => {});
      this.sandboxIPs.delete(id);
    }
  }

  private sources(pod: Pod, podIP?: string) {
    const ns = pod.metadata.namespace;
    return {
      pod,
      podIP,
      hostIP: this.o.nodeIP,
      configMap: (n: string) => this.o.state.configMaps.get(`${ns}/${n}`),
      secret: (n: string) => this.o.state.secrets.get(`${ns}/${n}`),
      // Downward-API files: the same paths as env fieldRefs; an unsupported path gives an empty file.
      field: (path: string) => {
        try {
          return fieldRef(pod, path, { podIP, hostIP: this.o.nodeIP });
        } catch {
          return '';
        }
      },
    };
  }

  private setWaiting(uid: string, container: string, reason: string | null, message = '') {
    let m = this.waiting.get(uid);
    if (!m) this.waiting.set(uid, (m = new Map()));
    if (reason) m.set(container, { reason, message });
    else m.delete(container);
  }

  private async containerDetail(c: CriContainer): Promise<RuntimeContainer> {
    // What ContainerStatus adds (start and exit times, exit code, reason) only changes with the
    // state the relist already shows: ask again only when that state moved.
    const cached = this.statusCache.get(c.id);
    if (cached && (cached.state === 'CONTAINER_EXITED' || cached.state === c.state)) return cached;
    const st = (await this.o.cri.containerStatus(c.id)).status;
    const rc: RuntimeContainer = {
      name: containerName(c),
      id: c.id,
      attempt: Number(c.metadata?.attempt ?? 0),
      state: st.state,
      startedAt: nsToIso(st.started_at),
      finishedAt: nsToIso(st.finished_at),
      exitCode: st.exit_code,
      reason: st.reason,
      message: st.message,
      image: st.image?.image ?? '',
      imageRef: st.image_ref ?? '',
    };
    this.statusCache.set(c.id, rc);
    return rc;
  }

  /** The relist's view of one pod in the plan's terms, with the details of exited containers (when asked). */
  private async observe(rt: RuntimePod, details = true): Promise<PodObservation> {
    const sandboxes = rt.sandboxes.map((s) => ({
      id: s.id,
      state: s.state,
      attempt: Number(s.metadata?.attempt ?? 0),
    }));
    const ready = new Set(sandboxes.filter((s) => s.state === 'SANDBOX_READY').map((s) => s.id));
    const containers: ObservedContainer[] = [];
    for (const c of rt.containers) {
      const o: ObservedContainer = {
        id: c.id,
        name: containerName(c),
        attempt: Number(c.metadata?.attempt ?? 0),
        sandboxId: c.pod_sandbox_id,
        state: c.state,
        specImage: c.annotations?.[ANNOTATION.specImage],
      };
      // Exit code and times decide restarts; only the ready sandbox's containers can restart.
      if (details && c.state === 'CONTAINER_EXITED' && ready.has(c.pod_sandbox_id)) {
        const d = await this.containerDetail(c);
        Object.assign(o, { exitCode: d.exitCode, startedAt: d.startedAt, finishedAt: d.finishedAt });
      }
      containers.push(o);
    }
    return { sandboxes, containers, probeKilled: this.killed };
  }

  /** The back-off entries of a pod's containers, by container name. */
  private backoffOf(pod: Pod): Map<string, BackoffEntry> {
    const out = new Map<string, BackoffEntry>();
    const s = pod.spec;
    for (const c of [...(s.initContainers ?? []), ...(s.containers ?? [])]) {
      const e = this.backoff.get(`${pod.metadata.uid}/${c.name}`);
      if (e) out.set(c.name, e);
    }
    return out;
  }

  /** One pod's sync: volumes, then the plan (pod-actions.ts) carried out over CRI, then its status. */
  private async syncPod(pod: Pod, rt: RuntimePod) {
    const uid = pod.metadata.uid!;
    const podDir = join(this.o.dataDir, 'pods', uid);
    if (pod.metadata.deletionTimestamp) {
      const plan = computePodActions(pod, await this.observe(rt, false), new Map(), Date.now());
      return this.deletePod(pod, rt, plan, podDir);
    }
    const spec = pod.spec;
    const volumePaths = new Map<string, string>();
    try {
      const volumes = await this.resolveClaims(pod);
      for (const v of volumes) volumePaths.set(v.name, prepareVolume(podDir, v, this.sources(pod)));
      for (const c of [...(spec.initContainers ?? []), ...(spec.containers ?? []), ...(spec.ephemeralContainers ?? [])])
        this.setWaiting(uid, c.name, null);
    } catch (e) {
      if (!(e instanceof VolumeError)) throw e;
      for (const c of spec.containers ?? []) this.setWaiting(uid, c.name, 'ContainerCreating', (e as Error).message);
      const msg = `MountVolume.SetUp failed: ${(e as Error).message}`;
      this.once(`${uid}/mount`, msg, () => this.event(pod, undefined, 'Warning', 'FailedMount', msg));
      return this.report(pod, rt, undefined);
    }
    this.announced.delete(`${uid}/mount`);
    const plan = computePodActions(pod, await this.observe(rt), this.backoffOf(pod), Date.now());
    for (const [name, e] of plan.backoff) this.backoff.set(`${uid}/${name}`, e);

    let sandbox = rt.sandboxes.find((s) => s.id === plan.sandboxId);
    if (plan.createSandbox) {
      for (const id of plan.killSandboxes) {
        await this.o.cri.stopPodSandbox(id).catch(() => {});
        await this.o.cri.removePodSandbox(id).catch(() => {});
      }
      const attempt = plan.createSandbox.attempt;
      let id: string;
      try {
        id = (await this.o.cri.runPodSandbox(sandboxConfig(pod, attempt, this.node))).pod_sandbox_id;
      } catch (e) {
        const msg = `Failed to create pod sandbox: ${(e as Error).message.replace(/^CRI RunPodSandbox: /, '')}`;
        // Retried every sync: one event per distinct failure (sandbox ids aside), not one a second.
        this.once(`${uid}/sandbox`, msg.replace(/[0-9a-f]{64}/g, ''), () =>
          this.event(pod, undefined, 'Warning', 'FailedCreatePodSandBox', msg),
        );
        for (const c of spec.containers ?? []) this.setWaiting(uid, c.name, 'ContainerCreating', msg);
        await this.report(pod, { sandboxes: [], containers: [] }, undefined);
        throw new Error(msg);
      }
      sandbox = { id, state: 'SANDBOX_READY', metadata: { attempt } };
      rt = { sandboxes: [sandbox], containers: [] };
    }
    if (!sandbox) return this.report(pod, rt, undefined);
    let podIP = this.sandboxIPs.get(sandbox.id);
    if (podIP === undefined) {
      podIP = String((await this.o.cri.podSandboxStatus(sandbox.id)).status?.network?.ip ?? '');
      this.sandboxIPs.set(sandbox.id, podIP);
    }
    const ctx: StartContext = {
      pod,
      sandboxId: sandbox.id,
      sandboxConfig: sandboxConfig(pod, Number(sandbox.metadata?.attempt ?? 0), this.node),
      podIP,
      podDir,
      volumePaths,
      now: Date.now(),
    };
    for (const k of plan.kill) {
      this.event(pod, k.name, 'Normal', 'Killing', k.message);
      await this.o.cri.stopContainer(k.id, k.graceSeconds).catch(() => {});
    }
    for (const id of plan.remove) await this.o.cri.removeContainer(id).catch(() => {});
    for (const id of plan.startCreated) await this.o.cri.startContainer(id).catch(() => {});
    for (const s of plan.start) await this.startContainer(ctx, s);
    for (const b of plan.backingOff) {
      const m = pod.metadata;
      this.once(`${uid}/${b.name}/restart-backoff`, String(b.attempt), () =>
        this.event(
          pod,
          b.name,
          'Warning',
          'BackOff',
          `Back-off restarting failed container ${b.name} in pod ${m.name}_${m.namespace}(${uid})`,
        ),
      );
      this.setWaiting(uid, b.name, 'CrashLoopBackOff', b.message);
    }
    for (const p of plan.probe) this.ensureProbes(pod, p.name, p.id, podIP);
    // The relist's view is still right unless this sync made, started or stopped containers.
    const acted = plan.kill.length + plan.startCreated.length + plan.start.length > 0;
    const containers =
      acted || !rt.containers.length
        ? ((await this.o.cri.listContainers({ pod_sandbox_id: sandbox.id })).containers as CriContainer[])
        : rt.containers.filter((c) => c.pod_sandbox_id === sandbox.id);
    return this.report(pod, { sandboxes: [sandbox], containers }, podIP);
  }

  /** Probes for a running container: liveness, readiness and startup as its spec asks. */
  private ensureProbes(pod: Pod, name: string, id: string, podIP: string) {
    const c = pod.spec.containers.find((x) => x.name === name);
    if (!c) return;
    if (c.livenessProbe || c.readinessProbe || c.startupProbe) this.probed.set(id, { pod, name });
    this.prober.ensure(id, c, {
      podIP,
      container: c,
      exec: async (cmd, t) => {
        const r = await this.o.cri.execSync(id, cmd, t);
        return {
          exitCode: r.exit_code,
          output: Buffer.concat([r.stdout ?? Buffer.alloc(0), r.stderr ?? Buffer.alloc(0)]).toString(),
        };
      },
    });
  }

  /** Makes and starts one container of the plan: its image (pulled per policy), env, mounts, config. */
  private async startContainer(ctx: StartContext, s: StartContainer): Promise<void> {
    const { pod, podIP, podDir, volumePaths, now } = ctx;
    const c = s.container;
    const uid = pod.metadata.uid!;
    const key = `${uid}/${c.name}`;
    const image = c.image ?? '';
    const warn = (reason: string, message: string) => {
      // A container stuck in one error: its events once per distinct error, with "Error: <reason>".
      this.once(`${key}/error`, `${reason}:${message}`, () => {
        if (reason === 'Failed') return this.event(pod, c.name, 'Warning', 'Failed', `Error: ${message}`);
        this.event(pod, c.name, 'Warning', reason, message);
        this.event(pod, c.name, 'Warning', 'Failed', `Error: ${reason}`);
      });
    };
    // Image: present, or pulled per imagePullPolicy.
    const status = (await this.o.cri.imageStatus(image)).image;
    const present = !!status;
    if (!present || c.imagePullPolicy === 'Always') {
      if (c.imagePullPolicy === 'Never' && !present) {
        const msg = `Container image "${image}" is not present with pull policy of Never`;
        this.setWaiting(uid, c.name, 'ErrImageNeverPull', msg);
        warn('ErrImageNeverPull', msg);
        return;
      }
      const until = this.pullBackoff.get(key) ?? 0;
      if (now < until) {
        this.setWaiting(uid, c.name, 'ImagePullBackOff', `Back-off pulling image "${image}"`);
        this.once(`${key}/pull-backoff`, String(until), () => {
          this.event(pod, c.name, 'Normal', 'BackOff', `Back-off pulling image "${image}"`);
          this.event(pod, c.name, 'Warning', 'Failed', 'Error: ImagePullBackOff');
        });
        return;
      }
      const t0 = Date.now();
      this.event(pod, c.name, 'Normal', 'Pulling', `Pulling image "${image}"`);
      try {
        await this.o.cri.pullImage(image, ctx.sandboxConfig);
        this.pullBackoff.delete(key);
        const took = ((Date.now() - t0) / 1000).toFixed(3);
        this.event(pod, c.name, 'Normal', 'Pulled', `Successfully pulled image "${image}" in ${took}s`);
      } catch (e) {
        const why = (e as Error).message.replace(/^CRI PullImage: /, '');
        this.event(pod, c.name, 'Warning', 'Failed', `Failed to pull image "${image}": ${why}`);
        if (!present) {
          const prev = this.pullDelay.get(key) ?? 5_000;
          this.pullDelay.set(key, Math.min(prev * 2, 300_000));
          this.pullBackoff.set(key, now + prev);
          this.setWaiting(uid, c.name, 'ErrImagePull', `failed to pull image "${image}": ${why}`);
          this.event(pod, c.name, 'Warning', 'Failed', 'Error: ErrImagePull');
          return;
        }
      }
    } else {
      this.once(`${key}/pulled`, String(s.attempt), () =>
        this.event(pod, c.name, 'Normal', 'Pulled', `Container image "${image}" already present on machine`),
      );
    }
    const img = status ?? (await this.o.cri.imageStatus(image)).image ?? {};
    const nonRoot = nonRootViolation(pod, c, {
      uid: img.uid ? Number(img.uid.value) : undefined,
      username: img.username || undefined,
    });
    if (nonRoot) {
      this.setWaiting(uid, c.name, 'CreateContainerConfigError', nonRoot);
      warn('Failed', nonRoot);
      return;
    }
    let env: ReturnType<typeof resolveEnv>;
    try {
      env = resolveEnv(c, this.sources(pod, podIP));
    } catch (e) {
      if (e instanceof EnvError) {
        this.setWaiting(uid, c.name, 'CreateContainerConfigError', e.message);
        warn('Failed', e.message);
        return;
      }
      throw e;
    }
    const mounts = (c.volumeMounts ?? []).map((m) => {
      const base = volumePaths.get(m.name);
      if (!base) throw new Error(`volume ${m.name} not found`);
      return {
        container_path: m.mountPath,
        host_path: m.subPath ? join(base, m.subPath) : base,
        readonly: !!m.readOnly,
      };
    });
    for (const m of mounts) if (m.host_path.startsWith(podDir)) mkdirSync(m.host_path, { recursive: true });
    try {
      const cfg = containerConfig(
        pod,
        c,
        s.attempt,
        env,
        expandCommand(c.command, env),
        expandCommand(c.args, env),
        mounts,
        s.targetId,
      );
      const { container_id } = await this.o.cri.createContainer(ctx.sandboxId, cfg, ctx.sandboxConfig);
      this.event(pod, c.name, 'Normal', 'Created', `Created container: ${c.name}`);
      await this.o.cri.startContainer(container_id);
      this.event(pod, c.name, 'Normal', 'Started', `Started container ${c.name}`);
      this.announced.delete(`${key}/error`);
    } catch (e) {
      this.setWaiting(uid, c.name, 'RunContainerError', (e as Error).message);
      warn('Failed', (e as Error).message);
    }
  }

  private claimVolumes = new Map<string, Volume[]>();

  /** PersistentVolumeClaim volumes become the directory of their bound volume (once bound). */
  private async resolveClaims(pod: Pod): Promise<Volume[]> {
    const uid = pod.metadata.uid!;
    const vols = pod.spec.volumes ?? [];
    if (!vols.some((v) => v.persistentVolumeClaim)) return vols;
    const known = this.claimVolumes.get(uid);
    if (known) return known;
    const out: Volume[] = [];
    for (const v of vols) {
      if (!v.persistentVolumeClaim) {
        out.push(v);
        continue;
      }
      const name = v.persistentVolumeClaim.claimName;
      const pvc = await this.o.api
        .get<PersistentVolumeClaim>(`/api/v1/namespaces/${pod.metadata.namespace}/persistentvolumeclaims/${name}`)
        .catch(() => null);
      if (!pvc) throw new VolumeError(`persistentvolumeclaim "${name}" not found`);
      if (!pvc.spec?.volumeName || pvc.status?.phase !== 'Bound')
        throw new VolumeError(`waiting for persistentvolumeclaim "${name}" to be bound`);
      const pv = await this.o.api.get<PersistentVolume>(`/api/v1/persistentvolumes/${pvc.spec.volumeName}`);
      const path = pv.spec?.hostPath?.path ?? pv.spec?.local?.path;
      if (!path)
        throw new VolumeError(`volume ${pv.metadata.name} is neither hostPath nor local; this node cannot mount it`);
      out.push({ name: v.name, hostPath: { path, type: 'DirectoryOrCreate' } });
    }
    this.claimVolumes.set(uid, out);
    return out;
  }

  private pullBackoff = new Map<string, number>();
  private pullDelay = new Map<string, number>();

  /** A deleted pod: preStop hooks, then every container and sandbox stopped within the grace period. */
  private async deletePod(pod: Pod, rt: RuntimePod, plan: PodActions, podDir: string) {
    const uid = pod.metadata.uid!;
    const grace = plan.terminate?.graceSeconds ?? 0;
    for (const k of plan.kill) this.event(pod, k.name, 'Normal', 'Killing', k.message);
    const t: Terminating = { grace, deadline: Date.now() + grace * 1000, containers: rt.containers, wake: () => {} };
    const shortened = new Promise<void>((r) => {
      t.wake = r;
    });
    this.terminating.set(uid, t);
    try {
      await Promise.race([this.preStop(pod, rt, grace), shortened]);
      const left = Math.max(0, Math.ceil((t.deadline - Date.now()) / 1000));
      await this.killPod(
        plan.killSandboxes,
        plan.kill.map((k) => k.id),
        left,
      );
    } finally {
      this.terminating.delete(uid);
    }
    removePodVolumes(podDir);
    const path = `/api/v1/namespaces/${pod.metadata.namespace}/pods/${pod.metadata.name}`;
    await this.o.api
      .req('DELETE', path, { kind: 'DeleteOptions', apiVersion: 'v1', gracePeriodSeconds: 0, preconditions: { uid } })
      .catch((e) => {
        if (!(e instanceof ApiStatusError && (e.code === 404 || e.code === 409))) throw e;
      });
    this.forget(uid);
  }

  /** preStop hooks of running containers (exec, httpGet, sleep), within the grace period. */
  private async preStop(pod: Pod, rt: RuntimePod, graceSec: number) {
    const hooks: Promise<unknown>[] = [];
    const sandbox = rt.sandboxes.find((s) => s.state === 'SANDBOX_READY');
    const podIP = sandbox ? (this.sandboxIPs.get(sandbox.id) ?? '') : '';
    for (const c of pod.spec?.containers ?? []) {
      const h = c.lifecycle?.preStop;
      const running = rt.containers.find((x) => x.state === 'CONTAINER_RUNNING' && containerName(x) === c.name);
      if (!h || !running) continue;
      if (h.exec)
        hooks.push(this.o.cri.execSync(running.id, h.exec.command ?? [], Math.max(1, graceSec)).catch(() => {}));
      else if (h.httpGet)
        hooks.push(
          runProbe(
            { httpGet: h.httpGet, timeoutSeconds: Math.max(1, graceSec) },
            { podIP, container: c, exec: async () => ({ exitCode: 1, output: '' }) },
          ),
        );
      else if (h.sleep) {
        const sec = Math.min(graceSec, Number(h.sleep.seconds ?? 0));
        hooks.push(new Promise((r) => setTimeout(r, sec * 1000)));
      }
    }
    if (!hooks.length) return;
    await Promise.race([Promise.all(hooks), new Promise((r) => setTimeout(r, graceSec * 1000))]);
  }

  private async report(pod: Pod, rt: RuntimePod, podIP: string | undefined) {
    const uid = pod.metadata.uid!;
    const byName = new Map<string, { latest: RuntimeContainer; previous?: RuntimeContainer }>();
    const sorted = [...rt.containers].sort(
      (a, b) => Number(b.metadata?.attempt ?? 0) - Number(a.metadata?.attempt ?? 0),
    );
    for (const c of sorted) {
      const name = containerName(c);
      const e = byName.get(name);
      if (!e) byName.set(name, { latest: await this.containerDetail(c) });
      else if (!e.previous) e.previous = await this.containerDetail(c);
    }
    const ready = new Map<string, boolean>(),
      started = new Map<string, boolean>();
    for (const c of pod.spec?.containers ?? []) {
      const l = byName.get(c.name)?.latest;
      if (l?.state === 'CONTAINER_RUNNING') {
        ready.set(c.name, this.prober.ready(l.id, c));
        started.set(c.name, this.prober.started(l.id, c));
      }
    }
    const runtime: PodRuntime = {
      sandboxReady: rt.sandboxes.some((s) => s.state === 'SANDBOX_READY'),
      podIP,
      hostIP: this.o.nodeIP,
      startTime: undefined,
      containers: byName,
      waiting: this.waiting.get(uid) ?? new Map(),
      ready,
      started,
    };
    const status = computeStatus(pod, runtime, pod.status ?? {}, nowIso());
    const comparable = JSON.stringify({
      ...status,
      conditions: status.conditions.map((c: Condition) => ({ ...c, lastTransitionTime: undefined })),
    });
    if (this.reported.get(uid) === comparable) return;
    try {
      await this.o.api.mergePatch(`/api/v1/namespaces/${pod.metadata.namespace}/pods/${pod.metadata.name}/status`, {
        status,
      });
      this.reported.set(uid, comparable);
    } catch (e) {
      if (!(e instanceof ApiStatusError && e.code === 404)) throw e;
    }
  }
}
