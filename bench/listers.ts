// Worker for bench/api.ts: `clients` loops of full cluster-wide lists until `until` (epoch ms),
// reading and discarding the bodies, so the measuring thread stays free. Posts the list count
// and the slowest list's time.
import { parentPort, workerData } from 'node:worker_threads';
import { Agent, request } from 'node:https';

const { server, token, ca, clients, until, path } = workerData as {
  server: string;
  token: string;
  ca: string;
  clients: number;
  until: number;
  path: string;
};
const agent = new Agent({ keepAlive: true, maxSockets: clients });

function list(): Promise<number> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const req = request(server + path, { ca, agent, headers: { Authorization: `Bearer ${token}` } }, (res) => {
      res.on('data', () => {});
      res.on('end', () => resolve(performance.now() - t0));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

let lists = 0,
  slowest = 0;
await Promise.all(
  Array.from({ length: clients }, async () => {
    while (Date.now() < until) {
      slowest = Math.max(slowest, await list());
      lists++;
    }
  }),
);
agent.destroy();
parentPort?.postMessage({ lists, slowest });
