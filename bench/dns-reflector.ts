// The floor under any resolver on Node's dgram, for bench/dns.ts: agent/dns/server.ts's own
// sockets and datagram path, with the resolver replaced by a reflector that answers each query
// with its own bytes and the QR bit set, and does no DNS work at all. What Skiff's resolver
// loses against it is the resolver; what it loses against dnsmasq beyond that is Node's.
// Prints `ready` once bound; stops on SIGTERM. Usage: node bench/dns-reflector.ts ADDRESS PORT
import { DnsMetrics } from '../agent/dns/metrics.ts';
import type { Resolver } from '../agent/dns/resolver.ts';
import { DnsServer } from '../agent/dns/server.ts';

const [address, port] = process.argv.slice(2);
const reflector = {
  handle(msg: Buffer): Buffer {
    msg[2] |= 0x80;
    return msg;
  },
};
// The server calls nothing of its resolver but handle(): the cast gives it only that.
const server = new DnsServer(reflector as unknown as Resolver, new DnsMetrics(), { address, port: Number(port) });
await server.start();
console.log('ready');
process.on('SIGTERM', () => {
  void server.stop().then(() => process.exit(0));
});
