// Upstream connections: one keep-alive http.Agent per endpoint (ip:port), so idle connections to a
// pod are reused by the next request for it, and a round-robin cursor per backend. Agents of
// endpoints that left every backend are retired when the route table changes.
import { Agent } from 'node:http';
import type { Backend, RouteTable, Upstream } from './routes.ts';

export interface PoolOptions {
  /** Most connections to one endpoint (in use and idle). */
  maxSockets: number;
  /** Idle upstream connections are closed after this long. */
  idleMs: number;
}

/**
 * Closes an agent's idle connections now and each busy one when its request ends: a request in
 * flight to an endpoint that just left (a pod terminating in a rolling update) still completes.
 */
function retire(a: Agent): void {
  a.keepSocketAlive = () => false;
  for (const list of Object.values(a.freeSockets)) for (const s of list ?? []) s.destroy();
}

export class UpstreamPool {
  private readonly agents = new Map<string, Agent>();
  private readonly cursors = new Map<string, number>();

  private readonly opts: PoolOptions;

  constructor(opts: PoolOptions) {
    this.opts = opts;
  }

  agentFor(u: Upstream): Agent {
    const k = `${u.ip}:${u.port}`;
    let a = this.agents.get(k);
    if (!a) {
      a = new Agent({
        keepAlive: true,
        maxSockets: this.opts.maxSockets,
        maxFreeSockets: Math.min(64, this.opts.maxSockets),
        timeout: this.opts.idleMs,
        scheduling: 'lifo',
      });
      this.agents.set(k, a);
    }
    return a;
  }

  /**
   * The endpoints of a backend in the order to try them: round robin decides the first, the others
   * follow so that a connect error can move on to the next one.
   */
  order(b: Backend): Upstream[] {
    const n = b.endpoints.length;
    if (n === 0) return [];
    const c = this.cursors.get(b.name) ?? 0;
    this.cursors.set(b.name, (c + 1) % n);
    const start = c % n;
    return [...b.endpoints.slice(start), ...b.endpoints.slice(0, start)];
  }

  /** Closes the agents of endpoints no backend in the table uses any more. */
  prune(table: RouteTable): void {
    const live = new Set<string>();
    const names = new Set<string>();
    const add = (b: Backend) => {
      names.add(b.name);
      for (const e of b.endpoints) live.add(`${e.ip}:${e.port}`);
    };
    for (const list of [...table.hosts.values(), ...table.wildcards.values(), table.anyHost])
      for (const r of list) add(r.backend);
    if (table.defaultBackend) add(table.defaultBackend.backend);
    for (const [k, a] of this.agents)
      if (!live.has(k)) {
        this.agents.delete(k);
        retire(a);
      }
    for (const k of this.cursors.keys()) if (!names.has(k)) this.cursors.delete(k);
  }

  close(): void {
    for (const a of this.agents.values()) a.destroy();
    this.agents.clear();
  }
}
