// Sends one A query every `interval` ms for `duration` ms to ADDRESS:53 over UDP, each with its
// own deadline, and prints {"sent":N,"failed":N,"wrong":N} — run inside a namespace by the
// restart test. Usage: node dns-querier.ts ADDRESS NAME EXPECTED_IP DURATION_MS INTERVAL_MS
import { udpExchange, query } from './dns.ts';
import dnsPacket from 'dns-packet';

const [address, name, expected, duration, interval] = process.argv.slice(2);
const end = Date.now() + Number(duration);
let sent = 0,
  failed = 0,
  wrong = 0;
const inFlight: Promise<void>[] = [];
while (Date.now() < end) {
  sent++;
  inFlight.push(
    udpExchange(address, 53, query(name, 'A', undefined, sent & 0xffff), 500).then((res) => {
      if (!res) failed++;
      else {
        const a = dnsPacket.decode(res).answers?.[0];
        if (a?.type !== 'A' || a.data !== expected) wrong++;
      }
    }),
  );
  await new Promise((r) => setTimeout(r, Number(interval)));
}
await Promise.all(inFlight);
console.log(JSON.stringify({ sent, failed, wrong }));
