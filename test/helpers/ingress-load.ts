// Constant keep-alive load through an ingress, run inside a sandbox namespace (the outside host):
//   node ingress-load.ts <ip> <port> <host> <path> <stop-file> [concurrency]
// Sends GETs until the stop file exists, each with a 5 s deadline, then prints a JSON summary:
// how many answered 200, and every failure (status or error) with its time.
import { existsSync } from 'node:fs';
import { Agent, request } from 'node:http';

const [ip, port, host, path, stopFile, conc = '4'] = process.argv.slice(2);
const agent = new Agent({ keepAlive: true, maxSockets: Number(conc) });
let ok = 0;
const failures: { at: number; what: string }[] = [];
const bodies = new Map<string, number>();
const t0 = Date.now();

function once(): Promise<void> {
  return new Promise((resolve) => {
    const req = request({ host: ip, port: Number(port), path, headers: { host }, agent, timeout: 5_000 }, (res) => {
      let body = '';
      res.on('data', (c) => {
        body += c;
      });
      res.on('end', () => {
        if (res.statusCode === 200) {
          ok++;
          const k = body.trim();
          bodies.set(k, (bodies.get(k) ?? 0) + 1);
        } else failures.push({ at: Date.now() - t0, what: `status ${res.statusCode}: ${body.trim()}` });
        resolve();
      });
      res.on('error', (e) => {
        failures.push({ at: Date.now() - t0, what: `response: ${e.message}` });
        resolve();
      });
    });
    req.on('timeout', () => req.destroy(new Error('deadline of 5 s passed')));
    req.on('error', (e) => {
      failures.push({ at: Date.now() - t0, what: e.message });
      resolve();
    });
    req.end();
  });
}

async function loop(): Promise<void> {
  while (!existsSync(stopFile)) await once();
}

await Promise.all(Array.from({ length: Number(conc) }, loop));
agent.destroy();
console.log(JSON.stringify({ ok, failures, bodies: Object.fromEntries(bodies), seconds: (Date.now() - t0) / 1000 }));
