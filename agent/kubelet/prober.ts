// Runs a container's probes on their schedule and keeps their states. Startup gates the other
// two; liveness failure asks the kubelet to restart the container; readiness drives `ready`.
import {
  initialState,
  observe,
  probeSettings,
  runProbe,
  type ProbeKind,
  type ProbeState,
  type ProbeTarget,
} from './probe.ts';
import type { Container, Probe } from '../../controlplane/shared/kube/index.ts';

interface Worker {
  timers: NodeJS.Timeout[];
  states: Map<ProbeKind, ProbeState>;
  startedAt: number;
}

export class Prober {
  private workers = new Map<string, Worker>();
  /** Called when liveness (or startup) fails: the container must be killed. */
  onUnhealthy: (containerId: string, kind: ProbeKind, message: string) => void = () => {};
  /** Called when readiness changes, so status can be reported. */
  onChange: () => void = () => {};
  /** Called for every failed probe run (the kubelet's Unhealthy events). */
  onFailure: (containerId: string, kind: ProbeKind, message: string) => void = () => {};

  /** Starts probing a running container once; later calls for the same id do nothing. */
  ensure(containerId: string, container: Container, target: ProbeTarget) {
    if (this.workers.has(containerId)) return;
    const w: Worker = { timers: [], states: new Map(), startedAt: Date.now() };
    this.workers.set(containerId, w);
    const kinds: [ProbeKind, Probe | undefined][] = [
      ['startup', container.startupProbe],
      ['liveness', container.livenessProbe],
      ['readiness', container.readinessProbe],
    ];
    for (const [kind, p] of kinds) {
      if (!p) continue;
      w.states.set(kind, initialState(kind));
      const t = probeSettings(p);
      let running = false;
      const tick = async () => {
        if (running || !this.workers.has(containerId)) return;
        if (kind !== 'startup' && container.startupProbe && w.states.get('startup')?.status !== 'success') return;
        running = true;
        try {
          const { result, message } = await runProbe(p, target);
          if (result === 'failure' && this.workers.has(containerId)) this.onFailure(containerId, kind, message);
          const before = w.states.get(kind)!;
          const after = observe(before, result, message, p);
          w.states.set(kind, after);
          if (after.status !== before.status) this.onChange();
          if ((kind === 'liveness' || kind === 'startup') && after.status === 'failure') {
            this.onUnhealthy(
              containerId,
              kind,
              `${kind === 'liveness' ? 'Liveness' : 'Startup'} probe failed: ${message}`,
            );
            this.forget(containerId);
          }
        } finally {
          running = false;
        }
      };
      const start = setTimeout(() => {
        void tick();
        w.timers.push(setInterval(() => void tick(), t.periodMs));
      }, t.initialDelayMs);
      w.timers.push(start);
    }
  }

  /** Ready: no readiness probe, or it succeeded (and startup, if any, succeeded). */
  ready(containerId: string, container: Container): boolean {
    const w = this.workers.get(containerId);
    if (container.startupProbe && w?.states.get('startup')?.status !== 'success') return false;
    if (!container.readinessProbe) return true;
    return w?.states.get('readiness')?.status === 'success';
  }

  started(containerId: string, container: Container): boolean {
    if (!container.startupProbe) return true;
    return this.workers.get(containerId)?.states.get('startup')?.status === 'success';
  }

  forget(containerId: string) {
    const w = this.workers.get(containerId);
    if (!w) return;
    for (const t of w.timers) {
      clearTimeout(t);
      clearInterval(t);
    }
    this.workers.delete(containerId);
  }

  /** Stops probing containers that are not in `alive`. */
  prune(alive: Set<string>) {
    for (const id of [...this.workers.keys()]) if (!alive.has(id)) this.forget(id);
  }
}
