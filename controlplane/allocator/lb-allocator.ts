// LoadBalancer addresses from the pool given to the server (--lb-pool: CIDRs and a-b ranges,
// comma-separated), each claimed as a store key /registry/ranges/lbips/<ip> naming its Service.
import { StoreError, type Store } from '../store/store.ts';
import { intToIp, ipToInt, parseCidr } from '../shared/cidr.ts';

const PREFIX = '/registry/ranges/lbips/';

export class LbPoolError extends Error {}

/** The pool's addresses in order (network and broadcast of a CIDR left out). Pure. */
export function poolAddresses(spec: string): string[] {
  const out: string[] = [];
  for (const part of spec
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    if (part.includes('/')) {
      const c = parseCidr(part);
      const skip = c.size > 2 ? 1 : 0;
      for (let i = skip; i < c.size - skip; i++) out.push(intToIp(c.base + i));
    } else if (part.includes('-')) {
      const [a, b] = part.split('-').map((x) => x.trim());
      const lo = ipToInt(a),
        hi = ipToInt(b);
      if (!(hi >= lo) || hi - lo > 65535) throw new LbPoolError(`invalid address range "${part}"`);
      for (let n = lo; n <= hi; n++) out.push(intToIp(n));
    } else out.push(intToIp(ipToInt(part)));
  }
  return out;
}

export class LbAllocator {
  private store: Store;
  readonly pool: string[];
  constructor(store: Store, spec: string) {
    this.store = store;
    this.pool = poolAddresses(spec);
  }

  async claims(): Promise<Map<string, { service: string; uid: string }>> {
    const { items } = await this.store.list(PREFIX);
    return new Map(items.map((kv) => [kv.key.slice(PREFIX.length), JSON.parse(kv.value)]));
  }

  /** The requested address (if in the pool and free) or the first free one; null when exhausted. */
  async allocate(service: string, uid: string, requested?: string): Promise<string | null> {
    const held = await this.claims();
    for (const [ip, c] of held) if (c.uid === uid) return ip;
    if (requested) {
      if (!this.pool.includes(requested))
        throw new LbPoolError(`requested address ${requested} is not in the load-balancer pool`);
      return (await this.claim(requested, service, uid)) ? requested : null;
    }
    for (const ip of this.pool) if (!held.has(ip) && (await this.claim(ip, service, uid))) return ip;
    return null;
  }

  private async claim(ip: string, service: string, uid: string): Promise<boolean> {
    try {
      await this.store.create(PREFIX + ip, JSON.stringify({ service, uid }));
      return true;
    } catch (e) {
      if (!(e instanceof StoreError && e.code === 'AlreadyExists')) throw e;
      const cur = await this.store.get(PREFIX + ip);
      return !!cur && JSON.parse(cur.value).uid === uid;
    }
  }

  async release(ip: string): Promise<void> {
    const cur = await this.store.get(PREFIX + ip);
    if (cur) await this.store.delete(cur.key, cur.modRevision).catch(() => {});
  }
}
