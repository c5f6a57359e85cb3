// A small packet tracer over the proxy's ruleset data (agent/proxy/model.ts): it runs a new
// connection's first packet through the base chains of every table in hook and priority order,
// as the kernel would, and says what became of it. Jumps and lookups stay in the chain's own
// table. At a nat hook the first chain that sets up a NAT binding ends the hook for that
// connection (the kernel's nf_nat_inet_fn); ties in priority run in the order of the tables.
// Only the vocabulary the renderer uses is understood.
import type { Chain, Fragment, HookName, Match, Proto, Rule, Tables } from '../../agent/proxy/model.ts';
import { MASQ_MARK, SHARD_MARK_MASK, dstKey, portKey, shardMark } from '../../agent/proxy/model.ts';

export interface Packet {
  src: string;
  dst: string;
  proto: Proto;
  dport: number;
  /** 'pod' or 'outside' traffic enters through prerouting; 'node' traffic starts in output. */
  origin: 'pod' | 'outside' | 'node';
  /** The packet's mark when it reaches the first hook (default 0). */
  mark?: number;
}

export interface TraceOptions {
  /** This node's own addresses (what `fib ... type local` says yes to). */
  local: string[];
  /** numgen's choice among n chains (default 0). */
  pick?: (n: number) => number;
  /** Dynamic set contents (session affinity); the trace adds to it as the kernel would. */
  dynamic?: Map<string, Set<string>>;
}

export interface Trace {
  verdict: 'accept' | 'drop' | 'reject';
  /** Where the packet goes after DNAT, if it was translated. */
  dnat?: { ip: string; port: number };
  masquerade: boolean;
  /** Every chain entered, in order. */
  chains: string[];
  /** Every base chain entered, as `TABLE:CHAIN`, in order. */
  base: string[];
  /** The packet's mark at the end. */
  mark: number;
}

const ipNum = (ip: string) => ip.split('.').reduce((a, o) => a * 256 + Number(o), 0);
export function inCidr(ip: string, cidr: string): boolean {
  const [net, len = '32'] = cidr.split('/');
  const bits = Number(len);
  const size = 2 ** (32 - bits);
  return Math.floor(ipNum(ip) / size) === Math.floor(ipNum(net) / size);
}

type Outcome = 'continue' | 'accept' | 'drop' | 'reject';

export function trace(tables: Tables, pkt: Packet, opts: TraceOptions): Trace {
  const dynamic = opts.dynamic ?? new Map<string, Set<string>>();
  const p = { ...pkt, mark: pkt.mark ?? 0 };
  const out: Trace = { verdict: 'accept', masquerade: false, chains: [], base: [], mark: p.mark };
  /** The table the chain being run belongs to. */
  let rules: Fragment = tables.values().next().value as Fragment;
  const isLocal = (ip: string) => opts.local.some((l) => inCidr(ip, l));

  const matches = (m: Match): boolean => {
    switch (m.m) {
      case 'ctNew':
        return true;
      case 'ctDnat':
        return !!out.dnat;
      case 'ctNotDnat':
        return !out.dnat;
      case 'addr':
        return inCidr(p[m.field === 'saddr' ? 'src' : 'dst'], m.cidr) !== !!m.neg;
      case 'addrList':
        return m.cidrs.some((c) => inCidr(p.src, c)) !== m.neg;
      case 'pairIn':
        return !!rules.members.get(m.set)?.has(`${p.src} . ${p.dst}`);
      case 'inSet': {
        const ip = p[m.field === 'saddr' ? 'src' : 'dst'];
        return !!(rules.members.get(m.set)?.has(ip) || dynamic.get(m.set)?.has(ip));
      }
      case 'fibLocal':
        return isLocal(p[m.field === 'saddr' ? 'src' : 'dst']);
      case 'portIn':
        return !!rules.elements.get(m.map)?.has(portKey(p.proto, p.dport));
      case 'masqUnmarked':
        return (p.mark & MASQ_MARK) === 0;
      case 'notForShard':
        return (p.mark & SHARD_MARK_MASK) >>> 0 !== shardMark(m.shard);
      case 'l4proto':
        return p.proto === m.proto;
    }
  };

  // The connection's NAT binding: later hooks see the new destination.
  const translate = (ip: string, port: number): Outcome => {
    p.dst = ip;
    p.dport = port;
    out.dnat = { ip, port };
    return 'accept';
  };

  const lookup = (map: string, key: string): Outcome => {
    const v = rules.elements.get(map)?.get(key);
    if (!v) return 'continue';
    if (v.v === 'to') throw new Error(`${map} is a data map, not a verdict map`);
    return v.v === 'drop' ? 'drop' : run(v.chain);
  };

  const exec = (rule: Rule): Outcome => {
    const a = rule.action;
    switch (a.a) {
      case 'accept':
      case 'drop':
      case 'reject':
        return a.a;
      case 'return':
        return 'continue';
      case 'jump': {
        const r = run(a.chain);
        return r === 'continue' ? 'continue' : r;
      }
      case 'goto':
        return run(a.chain);
      case 'vmap':
        return lookup(a.map, a.key === 'dst' ? dstKey(p.dst, p.proto, p.dport) : portKey(p.proto, p.dport));
      case 'numgen': {
        const i = (opts.pick ?? (() => 0))(a.n);
        return lookup(a.map, String(i));
      }
      case 'dnatMap': {
        const i = (opts.pick ?? (() => 0))(a.n);
        const v = rules.elements.get(a.map)?.get(String(i));
        // A lookup that finds nothing ends the rule, and the packet goes on untranslated.
        if (!v) return 'continue';
        if (v.v !== 'to') throw new Error(`${a.map} is not an endpoint map`);
        return translate(v.ip, v.port);
      }
      case 'markMasq':
        p.mark |= MASQ_MARK;
        return 'continue';
      case 'unmarkMasq':
        p.mark ^= MASQ_MARK;
        return 'continue';
      case 'markShard':
        p.mark = ((p.mark & ~SHARD_MARK_MASK) | shardMark(a.shard)) >>> 0;
        return 'continue';
      case 'unmarkShard':
        p.mark = (p.mark & ~SHARD_MARK_MASK) >>> 0;
        return 'continue';
      case 'masquerade':
        out.masquerade = true;
        return 'accept';
      case 'dnat':
        return translate(a.ip, a.port);
      case 'update': {
        let s = dynamic.get(a.set);
        if (!s) dynamic.set(a.set, (s = new Set()));
        s.add(p.src);
        return 'continue';
      }
    }
  };

  // A chain's outcome: a final verdict, or 'continue' when it ran off its end or returned.
  const run = (name: string): Outcome => {
    const chain = rules.chains.find((c) => c.name === name);
    if (!chain) throw new Error(`no chain ${name}`);
    out.chains.push(name);
    for (const rule of chain.rules) {
      if (!rule.match.every(matches)) continue;
      const r = exec(rule);
      if (r !== 'continue' || rule.action.a === 'return') return r;
    }
    return 'continue';
  };

  type BaseChain = Chain & { hook: NonNullable<Chain['hook']> };
  const hook = (h: HookName, from: number, to: number): Trace['verdict'] => {
    const base = [...tables]
      .flatMap(([t, f]) =>
        f.chains.filter((c): c is BaseChain => !!c.hook && c.hook.hook === h).map((c) => ({ t, f, c })),
      )
      .filter(({ c }) => c.hook.priority >= from && c.hook.priority <= to)
      .sort((a, b) => a.c.hook.priority - b.c.hook.priority);
    let bound = false;
    for (const { t, f, c } of base) {
      // A NAT binding set up by an earlier nat chain at this hook: the later ones do not run.
      if (c.hook.type === 'nat' && bound) continue;
      const before = { dnat: out.dnat, masquerade: out.masquerade };
      rules = f;
      out.base.push(`${t}:${c.name}`);
      const r = run(c.name);
      if (r === 'drop' || r === 'reject') return r;
      if (c.hook.type === 'nat' && (out.dnat !== before.dnat || out.masquerade !== before.masquerade)) bound = true;
    }
    return 'accept';
  };

  const all = [-1000, 1000] as const;
  const steps: [HookName, number, number][] =
    pkt.origin === 'node'
      ? [['output', ...all]]
      : [
          ['prerouting', ...all],
          // Routing after the DNAT: to this node, or on to somewhere else.
          ['input', ...all],
          ['forward', ...all],
        ];
  for (const [h, from, to] of steps) {
    if (h === 'input' && !isLocal(p.dst)) continue;
    if (h === 'forward' && isLocal(p.dst)) continue;
    const r = hook(h, from, to);
    if (r !== 'accept') {
      out.verdict = r;
      out.mark = p.mark;
      return out;
    }
  }
  if (pkt.origin === 'node' || !isLocal(p.dst)) hook('postrouting', ...all);
  out.mark = p.mark;
  return out;
}
