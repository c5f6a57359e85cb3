// DNS test helpers: queries over UDP and TCP with deadlines, and a dnsmasq "upstream" on a
// loopback address of its own (never a real resolver), stopped by its PID.
import { createSocket } from 'node:dgram';
import { connect } from 'node:net';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import dnsPacket from 'dns-packet';

export const rcodeOf = (res: dnsPacket.DecodedPacket) => (res as unknown as { rcode: string }).rcode;

export function query(name: string, type: dnsPacket.RecordType, edns?: number, id = 4242): Buffer {
  return dnsPacket.encode({
    type: 'query',
    id,
    flags: dnsPacket.RECURSION_DESIRED,
    questions: [{ name, type, class: 'IN' }],
    additionals: edns ? [{ type: 'OPT', name: '.', udpPayloadSize: edns } as unknown as dnsPacket.Answer] : [],
  });
}

/** One datagram out, the first datagram back (or null after `ms`). */
export function udpExchange(host: string, port: number, msg: Buffer, ms = 3000): Promise<Buffer | null> {
  return new Promise((resolve) => {
    const s = createSocket('udp4');
    const done = (b: Buffer | null) => {
      clearTimeout(t);
      s.close();
      resolve(b);
    };
    const t = setTimeout(() => done(null), ms);
    s.on('message', (m) => done(m));
    s.on('error', () => done(null));
    s.send(msg, port, host);
  });
}

/** Several length-prefixed messages written at once on one connection; resolves with every answer. */
export function tcpExchange(host: string, port: number, msgs: Buffer[], ms = 3000): Promise<Buffer[]> {
  return new Promise((resolve, reject) => {
    const s = connect({ host, port });
    const out: Buffer[] = [];
    let buf = Buffer.alloc(0);
    const t = setTimeout(() => {
      s.destroy();
      reject(new Error(`TCP exchange: ${out.length} of ${msgs.length} answers within ${ms} ms`));
    }, ms);
    s.on('error', (e) => {
      clearTimeout(t);
      reject(e);
    });
    s.on('close', () => {
      clearTimeout(t);
      resolve(out);
    });
    s.on('connect', () =>
      s.write(
        Buffer.concat(
          msgs.flatMap((m) => {
            const l = Buffer.alloc(2);
            l.writeUInt16BE(m.length);
            return [l, m];
          }),
        ),
      ),
    );
    s.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        out.push(Buffer.from(buf.subarray(2, 2 + buf.readUInt16BE(0))));
        buf = buf.subarray(2 + buf.readUInt16BE(0));
      }
      if (out.length === msgs.length) s.end();
    });
  });
}

export interface Dnsmasq {
  host: string;
  port: number;
  /** The queries it logged so far (names asked). */
  queries(): string[];
  stop(): Promise<void>;
}

/**
 * dnsmasq answering from a hosts file and host-records only (no upstream of its own), on
 * `host:port` (a 127.0.0.x address, or an address inside a namespace when `netns` is given).
 */
export async function startDnsmasq(o: {
  host: string;
  port: number;
  hosts?: string[];
  records?: string[];
  netns?: string;
}): Promise<Dnsmasq> {
  const dir = mkdtempSync(join(tmpdir(), 'skiff-dnsmasq-'));
  writeFileSync(join(dir, 'hosts'), `${(o.hosts ?? []).join('\n')}\n`);
  const args = [
    '--keep-in-foreground',
    '--conf-file=/dev/null',
    '--no-resolv',
    '--no-hosts',
    `--addn-hosts=${join(dir, 'hosts')}`,
    `--listen-address=${o.host}`,
    '--bind-interfaces',
    `--port=${o.port}`,
    '--local=/#/',
    '--user=root',
    '--pid-file=',
    '--log-queries',
    `--log-facility=${join(dir, 'log')}`,
    '--cache-size=0',
    '--local-ttl=60',
    ...(o.records ?? []).map((r) => `--host-record=${r}`),
  ];
  const child: ChildProcess = o.netns
    ? spawn('nsenter', [`--net=/run/netns/${o.netns}`, 'dnsmasq', ...args], { stdio: 'ignore' })
    : spawn('dnsmasq', args, { stdio: 'ignore' });
  const log = () => {
    try {
      return readFileSync(join(dir, 'log'), 'utf8');
    } catch {
      return '';
    }
  };
  const deadline = Date.now() + 5000;
  while (!/started, version/.test(log())) {
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`dnsmasq did not start: ${log()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return {
    host: o.host,
    port: o.port,
    queries: () => [...log().matchAll(/query\[\w+\] (\S+) from/g)].map((m) => m[1]),
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
