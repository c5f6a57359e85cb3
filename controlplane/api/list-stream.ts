// A list response written as it is read: the store is paged, each page serialised in slices of
// about SLICE_BYTES with a turn of the event loop (and the client's drain) between slices, so a
// list of many megabytes neither stalls other requests nor sits whole in memory. `metadata`
// (resourceVersion, continue) is only known at the end, so it follows `items`; JSON clients do
// not depend on key order.
import type { ServerResponse } from 'node:http';
import { bulkSlots, SLICE_BYTES, turn } from './pace.ts';
import type { ListOpts, Registry } from './registry.ts';
import { groupVersion, type Resource } from './resources.ts';

/** Below this many queued bytes the next slice is written. */
const LOW_WATER = 1024 * 1024;

class ClientGone extends Error {}

function drained(res: ServerResponse): Promise<void> {
  if (res.destroyed) return Promise.reject(new ClientGone());
  if (res.writableLength < LOW_WATER) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const go = () => {
      res.off('drain', go);
      res.off('close', go);
      if (res.destroyed) reject(new ClientGone());
      else resolve();
    };
    res.on('drain', go);
    res.on('close', go);
  });
}

export async function streamList(
  res: ServerResponse,
  reg: Registry,
  r: Resource,
  ns: string | undefined,
  opts: ListOpts,
  headers: Record<string, string>,
): Promise<void> {
  let started = false;
  let first = true;
  let pages = 0;
  let release: (() => void) | null = null;
  const pause = async () => {
    await drained(res);
    await turn();
    if (res.destroyed) throw new ClientGone();
  };
  try {
    const meta = await reg.list(r, ns, opts, async (items) => {
      // A list longer than one page takes one of the few bulk slots.
      if (++pages === 2) release = await bulkSlots.acquire(() => res.destroyed);
      if (!started) {
        started = true;
        res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-cache, private', ...headers });
        res.write(
          `{"kind":${JSON.stringify(`${r.kind}List`)},"apiVersion":${JSON.stringify(groupVersion(r))},"items":[`,
        );
      }
      let buf = '';
      for (const o of items) {
        buf += (first ? '' : ',') + JSON.stringify(o);
        first = false;
        if (buf.length > SLICE_BYTES) {
          res.write(buf);
          buf = '';
          await pause();
        }
      }
      if (buf) res.write(buf);
      await pause();
    });
    const metadata: Record<string, unknown> = { resourceVersion: meta.resourceVersion };
    if (meta.continue) metadata.continue = meta.continue;
    if (meta.remaining !== undefined) metadata.remainingItemCount = meta.remaining;
    if (!started) {
      res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-cache, private', ...headers });
      res.write(`{"kind":${JSON.stringify(`${r.kind}List`)},"apiVersion":${JSON.stringify(groupVersion(r))},"items":[`);
    }
    res.end(`],"metadata":${JSON.stringify(metadata)}}`);
  } catch (e) {
    if (e instanceof ClientGone) return;
    // Once the head is out, an error can only cut the response short.
    if (started) {
      console.error(`list ${r.plural} failed after the response started:`, e);
      res.destroy();
      return;
    }
    throw e;
  } finally {
    (release as (() => void) | null)?.();
  }
}
