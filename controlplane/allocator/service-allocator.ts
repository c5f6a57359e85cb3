// ClusterIP and NodePort allocation. Each allocation is a key in the store created atomically,
// so two API servers on one etcd can never hand out the same IP or port, and allocations
// survive restarts. A repair pass frees keys whose Service is gone (a crash between the
// allocation and the Service write).
import { randomInt } from 'node:crypto';
import { StoreError, type Store } from '../store/store.ts';
import { cidrContains, ipToInt, nthIp, parseCidr, type Cidr } from '../shared/cidr.ts';

const IP_PREFIX = '/registry/ranges/serviceips/';
const PORT_PREFIX = '/registry/ranges/servicenodeports/';

export class AllocationError extends Error {
  readonly field: string;
  readonly value: unknown;
  constructor(field: string, value: unknown, message: string) {
    super(message);
    this.field = field;
    this.value = value;
  }
}

export class ServiceAllocator {
  readonly cidr: Cidr;
  readonly portMin: number;
  readonly portMax: number;
  private store: Store;
  /** Offsets below this are kept for requested IPs (10.96.0.1 for the API, .10 for DNS). */
  private readonly staticBand: number;

  constructor(store: Store, serviceCidr: string, nodePortRange: string) {
    this.store = store;
    this.cidr = parseCidr(serviceCidr);
    const m = nodePortRange.match(/^(\d+)-(\d+)$/);
    if (!m || Number(m[1]) > Number(m[2]) || Number(m[2]) > 65535)
      throw new Error(`invalid node port range "${nodePortRange}"`);
    this.portMin = Number(m[1]);
    this.portMax = Number(m[2]);
    this.staticBand = Math.min(Math.max(16, Math.floor(this.cidr.size / 16)), 256);
  }

  /** The IP `n` addresses into the service range (1 = the API's own ClusterIP). */
  ipAt(n: number): string {
    return nthIp(this.cidr, n);
  }

  private async claim(key: string, owner: string): Promise<boolean> {
    try {
      await this.store.create(key, JSON.stringify({ owner, at: new Date().toISOString() }));
      return true;
    } catch (e) {
      if (e instanceof StoreError && e.code === 'AlreadyExists') return false;
      throw e;
    }
  }

  async allocateIP(owner: string, requested?: string): Promise<string> {
    if (requested) {
      if (!cidrContains(this.cidr, requested))
        throw new AllocationError(
          'spec.clusterIPs',
          requested,
          `failed to allocate IP ${requested}: the provided IP (${requested}) is not in the valid range. ` +
            `The range of valid IPs is ${nthIp(this.cidr, 0)}/${this.cidr.bits}`,
        );
      const off = ipToInt(requested) - this.cidr.base;
      if (off === 0 || off === this.cidr.size - 1)
        throw new AllocationError(
          'spec.clusterIPs',
          requested,
          `failed to allocate IP ${requested}: the provided IP is reserved`,
        );
      if (!(await this.claim(IP_PREFIX + requested, owner)))
        throw new AllocationError(
          'spec.clusterIPs',
          requested,
          `failed to allocate IP ${requested}: provided IP is already allocated`,
        );
      return requested;
    }
    const first = this.staticBand,
      span = this.cidr.size - 1 - first;
    const start = randomInt(span);
    for (let i = 0; i < span; i++) {
      const ip = nthIp(this.cidr, first + ((start + i) % span));
      if (await this.claim(IP_PREFIX + ip, owner)) return ip;
    }
    throw new AllocationError('spec.clusterIPs', '', 'failed to allocate a serviceIP: range is full');
  }

  async allocateNodePort(owner: string, requested?: number): Promise<number> {
    if (requested) {
      if (requested < this.portMin || requested > this.portMax)
        throw new AllocationError(
          'spec.ports[].nodePort',
          requested,
          `provided port is not in the valid range. The range of valid ports is ${this.portMin}-${this.portMax}`,
        );
      if (!(await this.claim(PORT_PREFIX + requested, owner)))
        throw new AllocationError('spec.ports[].nodePort', requested, 'provided port is already allocated');
      return requested;
    }
    const span = this.portMax - this.portMin + 1;
    const start = randomInt(span);
    for (let i = 0; i < span; i++) {
      const port = this.portMin + ((start + i) % span);
      if (await this.claim(PORT_PREFIX + port, owner)) return port;
    }
    throw new AllocationError('spec.ports[].nodePort', '', 'range is full');
  }

  private async release(key: string) {
    try {
      await this.store.delete(key, 0);
    } catch (e) {
      if (!(e instanceof StoreError && e.code === 'NotFound')) throw e;
    }
  }
  releaseIP(ip: string) {
    return this.release(IP_PREFIX + ip);
  }
  releaseNodePort(port: number) {
    return this.release(PORT_PREFIX + port);
  }

  /**
   * Frees the claim on ip if `owner` holds it and has held it for at least minAgeMs: used when the
   * owner's object is known not to exist (a server died between claiming and writing it).
   */
  async reclaimIP(ip: string, owner: string, minAgeMs: number): Promise<boolean> {
    const kv = await this.store.get(IP_PREFIX + ip);
    if (!kv) return false;
    const claim = JSON.parse(kv.value) as { owner?: string; at?: string };
    if (claim.owner !== owner || Date.now() - Date.parse(claim.at ?? '') < minAgeMs) return false;
    try {
      await this.store.delete(kv.key, kv.modRevision);
      return true;
    } catch (e) {
      if (e instanceof StoreError) return false; // changed or gone meanwhile: look again next time
      throw e;
    }
  }

  /** Frees allocations older than `minAgeMs` whose value no live Service holds. */
  async repair(inUse: { ips: Set<string>; ports: Set<number> }, minAgeMs = 60_000): Promise<number> {
    let freed = 0;
    const now = Date.now();
    for (const [prefix, used] of [
      [IP_PREFIX, (k: string) => inUse.ips.has(k)],
      [PORT_PREFIX, (k: string) => inUse.ports.has(Number(k))],
    ] as const) {
      const { items } = await this.store.list(prefix);
      for (const kv of items) {
        const id = kv.key.slice(prefix.length);
        if (used(id)) continue;
        const at = Date.parse(JSON.parse(kv.value).at ?? 0);
        if (now - at < minAgeMs) continue;
        try {
          await this.store.delete(kv.key, kv.modRevision);
          freed++;
        } catch {
          /* raced with a new owner */
        }
      }
    }
    return freed;
  }
}
