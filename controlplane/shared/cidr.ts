// IPv4 CIDR arithmetic for the allocators.

export interface Cidr {
  base: number;
  bits: number;
  size: number;
}

export function ipToInt(ip: string): number {
  const p = String(ip).split('.');
  if (p.length !== 4 || p.some((x) => !/^\d{1,3}$/.test(x) || Number(x) > 255))
    throw new Error(`invalid IPv4 address "${ip}"`);
  return p.reduce((a, x) => a * 256 + Number(x), 0);
}

export function intToIp(n: number): string {
  return [24, 16, 8, 0].map((s) => (Math.floor(n / 2 ** s) & 255).toString()).join('.');
}

export function parseCidr(s: string): Cidr {
  const [ip, b, extra] = String(s).split('/');
  // Digits only: Number() would also take '', ' 24' and '0x18'.
  const bits = /^\d{1,2}$/.test(b ?? '') ? Number(b) : Number.NaN;
  if (!ip || extra !== undefined || !(bits >= 0 && bits <= 32)) throw new Error(`invalid CIDR "${s}"`);
  const size = 2 ** (32 - bits);
  const base = Math.floor(ipToInt(ip) / size) * size;
  return { base, bits, size };
}

export function cidrContains(c: Cidr, ip: string): boolean {
  let n: number;
  try {
    n = ipToInt(ip);
  } catch {
    return false;
  }
  return n >= c.base && n < c.base + c.size;
}

/** Whether two ranges share an address. */
export function cidrsOverlap(a: Cidr, b: Cidr): boolean {
  return a.base < b.base + b.size && b.base < a.base + a.size;
}

export function formatCidr(c: Cidr): string {
  return `${intToIp(c.base)}/${c.bits}`;
}

/** The n-th address of a range (0 is the network address). */
export function nthIp(c: Cidr, n: number): string {
  return intToIp(c.base + n);
}
