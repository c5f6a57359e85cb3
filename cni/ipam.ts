// IP address management on disk: one file per allocated address under
// <dataDir>/networks/<network>/, holding "<containerID>\n<ifname>". A directory lock makes
// concurrent ADDs (containerd runs them in parallel) hand out each address once, and the files
// survive restarts.
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { intToIp, ipToInt, type Cidr } from '../controlplane/shared/cidr.ts';
import { LockTimeoutError, withDirLock } from '../controlplane/shared/dir-lock.ts';
import { CniError, CODES } from './errors.ts';

export interface Allocation {
  ip: string;
  containerID: string;
  ifname: string;
}

export class Ipam {
  readonly dir: string;
  private subnet: Cidr;
  constructor(dataDir: string, network: string, subnet: Cidr) {
    this.dir = join(dataDir, 'networks', network);
    this.subnet = subnet;
  }

  /**
   * Runs fn holding the network's lock (controlplane/shared/dir-lock.ts: a directory that appears
   * with its holder's stamp; one rename per attempt keeps polling cheap when a hundred ADDs wait
   * at once; a dead holder's lock is taken over, one taker at a time).
   */
  async locked<T>(fn: () => Promise<T> | T): Promise<T> {
    try {
      mkdirSync(this.dir, { recursive: true });
      // A burst of ADDs (a node's pods after a reboot, a scale-up) queues here one plugin process
      // each; on a small loaded node the last of a hundred waited over 30 s. 90 s stays within the
      // kubelet's 2-minute runtime request timeout, with time left for the veth.
      return await withDirLock(join(this.dir, '.lock'), fn, 90_000);
    } catch (e) {
      if (e instanceof CniError) throw e;
      if (e instanceof LockTimeoutError) throw new CniError(CODES.tryAgain, `IPAM in ${this.dir}: ${e.message}`);
      throw new CniError(CODES.ioFailure, `IPAM in ${this.dir} failed`, String(e));
    }
  }

  list(): Allocation[] {
    let names: string[] = [];
    try {
      names = readdirSync(this.dir);
    } catch {
      return [];
    }
    const out: Allocation[] = [];
    for (const n of names) {
      if (!/^\d+\.\d+\.\d+\.\d+$/.test(n)) continue;
      const [containerID = '', ifname = ''] = readFileSync(join(this.dir, n), 'utf8').split('\n');
      out.push({ ip: n, containerID, ifname });
    }
    return out;
  }

  /** Allocates (or returns the existing) address for containerID/ifname. Call under the lock. */
  allocate(containerID: string, ifname: string): string {
    const taken = this.list();
    const mine = taken.find((a) => a.containerID === containerID && a.ifname === ifname);
    if (mine) return mine.ip;
    const used = new Set(taken.map((a) => a.ip));
    // Skip the network address, the gateway (.1) and broadcast; continue after the last handed out.
    const first = this.subnet.base + 2,
      last = this.subnet.base + this.subnet.size - 2;
    let start = first;
    try {
      start = ipToInt(readFileSync(join(this.dir, 'last_reserved_ip'), 'utf8').trim()) + 1;
    } catch {
      /* first use */
    }
    if (start < first || start > last) start = first;
    for (let i = 0; i <= last - first; i++) {
      const n = first + ((start - first + i) % (last - first + 1));
      const ip = intToIp(n);
      if (used.has(ip)) continue;
      const tmp = join(this.dir, `.${ip}.tmp`);
      writeFileSync(tmp, `${containerID}\n${ifname}`);
      renameSync(tmp, join(this.dir, ip));
      writeFileSync(join(this.dir, 'last_reserved_ip'), ip);
      return ip;
    }
    throw new CniError(CODES.generic, `no free address left in ${intToIp(this.subnet.base)}/${this.subnet.bits}`);
  }

  /** Frees what containerID/ifname holds; returns the addresses released. Call under the lock. */
  release(containerID: string, ifname: string): string[] {
    const out: string[] = [];
    for (const a of this.list()) {
      if (a.containerID === containerID && a.ifname === ifname) {
        rmSync(join(this.dir, a.ip), { force: true });
        out.push(a.ip);
      }
    }
    return out;
  }

  find(containerID: string, ifname: string): string | undefined {
    return this.list().find((a) => a.containerID === containerID && a.ifname === ifname)?.ip;
  }
}
