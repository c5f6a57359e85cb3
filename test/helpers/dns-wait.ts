// Polls ADDRESS:53 every 10 ms for NAME (type A) until it resolves, then prints the wall-clock
// time (ms) of the first answer with records; gives up after TIMEOUT_MS. Run inside a node's
// namespace by the e2e test. Usage: node dns-wait.ts ADDRESS NAME TIMEOUT_MS
import dnsPacket from 'dns-packet';
import { query, udpExchange } from './dns.ts';

const [address, name, timeout] = process.argv.slice(2);
const end = Date.now() + Number(timeout);
console.error('polling');
while (Date.now() < end) {
  const res = await udpExchange(address, 53, query(name, 'A'), 200);
  if (res && (dnsPacket.decode(res).answers ?? []).length) {
    console.log(Date.now());
    process.exit(0);
  }
  await new Promise((r) => setTimeout(r, 10));
}
process.exit(1);
