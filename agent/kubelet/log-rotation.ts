// Container log rotation, as kubelet does it: a running container's CRI log file that grew past
// the size limit is renamed with a timestamp suffix, the runtime is asked to reopen it
// (CRI ReopenContainerLog), and only the newest files are kept (the live one included).
import { readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { CriClient } from '../cri/client.ts';

export const LOG_MAX_BYTES = 10 * 1024 * 1024;
export const LOG_MAX_FILES = 5;

const stamp = (d: Date) =>
  d
    .toISOString()
    .replace(/[-:]/g, '')
    .replace('T', '-')
    .replace(/\.\d+Z$/, '');

/** Which rotated files of one live log to delete so that maxFiles remain in all. Pure. */
export function rotatedToDelete(live: string, siblings: string[], maxFiles: number): string[] {
  const rotated = siblings.filter((f) => f.startsWith(`${live}.`)).sort();
  return rotated.slice(0, Math.max(0, rotated.length - (maxFiles - 1)));
}

export class LogRotator {
  private cri: CriClient;
  private log: (s: string) => void;
  private paths = new Map<string, string>();
  private timer: NodeJS.Timeout | null = null;
  private busy = false;
  maxBytes = LOG_MAX_BYTES;
  maxFiles = LOG_MAX_FILES;

  constructor(cri: CriClient, log: (s: string) => void) {
    this.cri = cri;
    this.log = log;
  }

  start(periodMs = 10_000) {
    this.timer = setInterval(() => {
      void this.once();
    }, periodMs);
  }
  stop() {
    if (this.timer) clearInterval(this.timer);
  }

  async once() {
    if (this.busy) return;
    this.busy = true;
    try {
      const { containers } = await this.cri.listContainers({ state: { state: 'CONTAINER_RUNNING' } });
      const live = new Set(containers.map((c) => c.id));
      for (const id of this.paths.keys()) if (!live.has(id)) this.paths.delete(id);
      for (const c of containers) {
        let path = this.paths.get(c.id);
        if (path === undefined) {
          path = String((await this.cri.containerStatus(c.id).catch(() => null))?.status?.log_path ?? '');
          this.paths.set(c.id, path);
        }
        if (path)
          await this.rotate(c.id, path).catch((e) =>
            this.log(`log rotation of ${c.id.slice(0, 12)}: ${(e as Error).message}`),
          );
      }
    } finally {
      this.busy = false;
    }
  }

  private async rotate(id: string, path: string) {
    let size = 0;
    try {
      size = statSync(path).size;
    } catch {
      return;
    }
    if (size < this.maxBytes) return;
    const rotated = `${path}.${stamp(new Date())}`;
    renameSync(path, rotated);
    try {
      await this.cri.reopenContainerLog(id);
    } catch (e) {
      renameSync(rotated, path);
      throw e;
    }
    const dir = dirname(path);
    for (const f of rotatedToDelete(basename(path), readdirSync(dir), this.maxFiles))
      rmSync(join(dir, f), { force: true });
  }
}
