// watch: the initial list (when asked for) and then every change, as a chunked stream of watch
// events (or of Table rows), with bookmarks, a timeout, and a limit on what a slow client queues.
import { boolParam, intParam, wantsTable } from '../http.ts';
import { turn } from '../pace.ts';
import { groupVersion } from '../resources.ts';
import { toTable, type IncludeObject } from '../table.ts';
import type { Obj } from '../../shared/kube/object.ts';
import type { Call } from './call.ts';
import { listOpts } from './respond.ts';

/** Bytes a watch may have queued for its client before it is closed as too slow. */
const WATCH_MAX_QUEUED = 16 * 1024 * 1024;
/** Below this, a watch's initial list sends its next page. */
const WATCH_LOW_WATER = 1024 * 1024;

export async function watch(call: Call): Promise<void> {
  const { res, route, q, accept, api } = call;
  const opts = listOpts(route, q);
  const asked = intParam(q, 'timeoutSeconds');
  // Bounded like upstream's default (30-60 min); setTimeout cannot hold more than 2^31 ms anyway.
  const timeout = asked && asked > 0 ? Math.min(asked, 3600) : 1800 + Math.floor(Math.random() * 1800);
  const bookmarks = boolParam(q, 'allowWatchBookmarks');
  const table = wantsTable(accept);
  const include = (q.get('includeObject') ?? 'Metadata') as IncludeObject;
  const sendInitial = q.get('sendInitialEvents');
  let first = true;
  let lastRv = opts.resourceVersion ?? '0';
  let started = false;
  let done = false;
  const start = () => {
    if (started) return;
    started = true;
    res.writeHead(200, {
      'Content-Type': 'application/json',
      'Transfer-Encoding': 'chunked',
      'Cache-Control': 'no-cache, private',
    });
  };
  const write = (type: string, obj: Obj) => {
    if (done) return;
    start();
    if (obj.metadata?.resourceVersion) lastRv = obj.metadata.resourceVersion;
    let out = obj;
    if (table && type !== 'ERROR' && type !== 'BOOKMARK') {
      out = toTable(
        route.res.kind,
        groupVersion(route.res),
        [obj],
        { resourceVersion: obj.metadata?.resourceVersion },
        include,
        first,
      );
      first = false;
    }
    res.write(JSON.stringify({ type, object: out }) + '\n');
    // A watcher that does not keep up is closed (as upstream's watch cache does); it re-lists.
    if (res.writableLength > WATCH_MAX_QUEUED) {
      console.error(
        `watch ${route.res.plural}: closing a slow watcher (${res.writableLength} bytes queued, ` +
          `limit ${WATCH_MAX_QUEUED})`,
      );
      finish(true);
    }
  };
  // Resolves once the client has taken what was queued (or the watch ended) and it is this
  // watch's turn for its next slice of the initial list.
  const drain = async () => {
    if (!done && res.writableLength >= WATCH_LOW_WATER)
      await new Promise<void>((resolve) => {
        const go = () => {
          res.off('drain', go);
          res.off('close', go);
          resolve();
        };
        res.on('drain', go);
        res.on('close', go);
      });
    if (!done) await turn();
  };
  api.metrics.openWatches++;
  // `abort`: the client is gone or too slow, so everything is dropped at once (socket included).
  const release = () => {
    done = true;
    api.metrics.openWatches--;
    clearTimeout(timer);
    clearInterval(bm);
    w.close();
    api.watches.delete(stop);
  };
  const finish = (abort = false) => {
    if (done) return;
    release();
    if (abort) {
      res.destroy();
      return;
    }
    if (!res.writableEnded) {
      start();
      res.end();
    }
  };
  const stop = () => finish();
  api.watches.add(stop);
  const w = api.registry.watch(
    route.res,
    route.namespace,
    {
      labels: opts.labels,
      fields: opts.fields,
      resourceVersion: opts.resourceVersion,
      sendInitialEvents: sendInitial === null ? undefined : sendInitial === 'true',
      drain,
    },
    write,
    (e) => {
      if (done) return;
      write('ERROR', e.toStatus());
      finish();
    },
  );
  // Headers go out at once (the parameters were checked above): a watch whose initial list
  // waits behind other watchers' lists is still an open, answered watch.
  start();
  (res as unknown as { flushHeaders(): void }).flushHeaders();
  const timer = setTimeout(stop, timeout * 1000);
  const bm = setInterval(() => {
    if (bookmarks)
      write('BOOKMARK', {
        kind: route.res.kind,
        apiVersion: groupVersion(route.res),
        metadata: { resourceVersion: lastRv },
      });
  }, 15_000);
  // The client went away: drop the store watch, the queue and the socket now.
  res.on('close', () => finish(true));
  await w.ready;
}
