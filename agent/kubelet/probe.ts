// Probe state machines (startup, liveness, readiness) with Kubernetes' defaults, and the three
// probe actions: exec through CRI, httpGet (200-399 is success) and tcpSocket. The state
// machine is pure; the actions are thin.
import { request } from 'node:http';
import { connect } from 'node:net';
import type { Container, Probe } from '../../controlplane/shared/kube/index.ts';

export type ProbeKind = 'startup' | 'liveness' | 'readiness';
export type ProbeResult = 'success' | 'failure';

export interface ProbeState {
  /** null until the first result after the initial delay. */
  status: ProbeResult | null;
  successes: number;
  failures: number;
  lastMessage: string;
}

export function probeSettings(p: Probe) {
  return {
    initialDelayMs: (p.initialDelaySeconds ?? 0) * 1000,
    periodMs: (p.periodSeconds ?? 10) * 1000,
    timeoutMs: (p.timeoutSeconds ?? 1) * 1000,
    successThreshold: p.successThreshold ?? 1,
    failureThreshold: p.failureThreshold ?? 3,
  };
}

export function initialState(kind: ProbeKind): ProbeState {
  // Readiness starts failed (not ready); the others unknown until they report.
  return { status: kind === 'readiness' ? 'failure' : null, successes: 0, failures: 0, lastMessage: '' };
}

/** Folds one result into the state: a status flips after threshold results in a row. */
export function observe(s: ProbeState, r: ProbeResult, message: string, p: Probe): ProbeState {
  const t = probeSettings(p);
  const next = { ...s, lastMessage: message };
  if (r === 'success') {
    next.successes = s.successes + 1;
    next.failures = 0;
    if (next.successes >= t.successThreshold) next.status = 'success';
  } else {
    next.failures = s.failures + 1;
    next.successes = 0;
    if (next.failures >= t.failureThreshold) next.status = 'failure';
  }
  return next;
}

function resolvePort(port: unknown, container: Container): number {
  if (typeof port === 'number') return port;
  const named = (container.ports ?? []).find((p) => p.name === port);
  if (named) return named.containerPort;
  const n = Number(port);
  if (Number.isInteger(n)) return n;
  throw new Error(`port "${port}" is not a port of container ${container.name}`);
}

export interface ProbeTarget {
  podIP: string;
  container: Container;
  exec(cmd: string[], timeoutSec: number): Promise<{ exitCode: number; output: string }>;
}

export async function runProbe(p: Probe, t: ProbeTarget): Promise<{ result: ProbeResult; message: string }> {
  const { timeoutMs } = probeSettings(p);
  try {
    if (p.exec) {
      const r = await t.exec(p.exec.command ?? [], Math.max(1, Math.ceil(timeoutMs / 1000)));
      return r.exitCode === 0
        ? { result: 'success', message: '' }
        : {
            result: 'failure',
            message: `command exited with ${r.exitCode}${r.output ? `: ${r.output.slice(0, 200)}` : ''}`,
          };
    }
    const http = p.httpGet;
    if (http) {
      const port = resolvePort(http.port, t.container);
      const host = http.host || t.podIP;
      if ((http.scheme ?? 'HTTP') !== 'HTTP')
        return { result: 'failure', message: 'HTTPS probes are not supported yet' };
      const code = await new Promise<number>((resolve, reject) => {
        const headers: Record<string, string> = { 'User-Agent': 'kube-probe/1.32' };
        for (const h of http.httpHeaders ?? []) headers[h.name] = h.value;
        const req = request(
          { host, port, path: http.path ?? '/', method: 'GET', headers, timeout: timeoutMs },
          (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          },
        );
        req.on('timeout', () => req.destroy(new Error(`timeout after ${timeoutMs} ms`)));
        req.on('error', reject);
        req.end();
      });
      return code >= 200 && code < 400
        ? { result: 'success', message: '' }
        : { result: 'failure', message: `HTTP probe failed with statuscode: ${code}` };
    }
    const tcp = p.tcpSocket;
    if (tcp) {
      const port = resolvePort(tcp.port, t.container);
      await new Promise<void>((resolve, reject) => {
        const s = connect({ host: tcp.host || t.podIP, port, timeout: timeoutMs });
        s.on('connect', () => {
          s.destroy();
          resolve();
        });
        s.on('timeout', () => {
          s.destroy();
          reject(new Error(`dial tcp ${port}: i/o timeout`));
        });
        s.on('error', reject);
      });
      return { result: 'success', message: '' };
    }
    return { result: 'failure', message: 'probe has no action' };
  } catch (e) {
    return { result: 'failure', message: (e as Error).message };
  }
}
