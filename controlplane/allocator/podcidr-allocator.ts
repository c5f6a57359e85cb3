// Pod subnets: one /24 (by default) of the cluster CIDR per node, claimed as a store key
// (/registry/ranges/podcidrs/<subnet>) holding the node's name, so a subnet is never given
// twice, also with several servers on one etcd; released when the node goes.
import { StoreError, type Store } from '../store/store.ts';
import { formatCidr, parseCidr, type Cidr } from '../shared/cidr.ts';

const PREFIX = '/registry/ranges/podcidrs/';
const keyOf = (subnet: string) => PREFIX + subnet.replace('/', '-');

export class PodCidrAllocator {
  private store: Store;
  private cluster: Cidr;
  private maskBits: number;

  constructor(store: Store, clusterCidr: string, maskBits = 24) {
    this.store = store;
    this.cluster = parseCidr(clusterCidr);
    if (maskBits < this.cluster.bits)
      throw new Error(`node subnet /${maskBits} is larger than the cluster CIDR ${clusterCidr}`);
    this.maskBits = maskBits;
  }

  /** The n-th subnet of the cluster CIDR. */
  subnet(n: number): string {
    return formatCidr({
      base: this.cluster.base + n * 2 ** (32 - this.maskBits),
      bits: this.maskBits,
      size: 2 ** (32 - this.maskBits),
    });
  }
  get count(): number {
    return 2 ** (this.maskBits - this.cluster.bits);
  }

  /** Who holds each subnet. */
  async claims(): Promise<Map<string, string>> {
    const { items } = await this.store.list(PREFIX);
    return new Map(
      items.map((kv) => [kv.key.slice(PREFIX.length).replace('-', '/'), JSON.parse(kv.value).node as string]),
    );
  }

  /** Claims a given subnet for a node: true if it is (now) the node's. */
  async claim(subnet: string, node: string): Promise<boolean> {
    try {
      await this.store.create(keyOf(subnet), JSON.stringify({ node, at: new Date().toISOString() }));
      return true;
    } catch (e) {
      if (!(e instanceof StoreError && e.code === 'AlreadyExists')) throw e;
      const cur = await this.store.get(keyOf(subnet));
      return !!cur && JSON.parse(cur.value).node === node;
    }
  }

  /** The first free subnet, claimed for the node (its existing one if it has one). */
  async allocate(node: string): Promise<string> {
    const held = await this.claims();
    for (const [s, n] of held) if (n === node) return s;
    for (let i = 0; i < this.count; i++) {
      const s = this.subnet(i);
      if (held.has(s)) continue;
      if (await this.claim(s, node)) return s;
    }
    throw new Error(`no free /${this.maskBits} left in ${formatCidr(this.cluster)}`);
  }

  async release(subnet: string): Promise<void> {
    const cur = await this.store.get(keyOf(subnet));
    if (cur) await this.store.delete(cur.key, cur.modRevision).catch(() => {});
  }
}
