// Runs and supervises the node's own containerd: restarts it when it dies (with back-off),
// and reports whether CRI answers. Stopping the agent stops containerd but not the pods:
// their shims keep running and the next containerd adopts them.
import { execa, type ResultPromise } from 'execa';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { renderContainerdConfig, type ContainerdPaths } from './config.ts';
import { CriClient } from '../cri/client.ts';

export class ContainerdSupervisor {
  readonly paths: ContainerdPaths;
  private dir: string;
  private proc: ResultPromise | null = null;
  private stopping = false;
  private backoffMs = 500;
  restarts = 0;
  onLog: (line: string) => void = () => {};

  /** Command prefix, e.g. nsenter into a node's network namespace (tests). */
  private wrap: string[];

  constructor(dir: string, paths: ContainerdPaths, wrap: string[] = []) {
    this.dir = dir;
    this.paths = paths;
    this.wrap = wrap;
  }

  get pid(): number | undefined {
    return this.adoptedPid ?? this.proc?.pid;
  }

  async start(): Promise<void> {
    for (const d of [
      this.paths.root,
      this.paths.state,
      this.paths.runcRoot,
      this.paths.cniBin,
      this.paths.cniConf,
      this.paths.registryConfig,
      dirname(this.paths.socket),
    ])
      mkdirSync(d, { recursive: true });
    writeFileSync(join(this.dir, 'config.toml'), renderContainerdConfig(this.paths));
    // After an agent crash its containerd is still running: adopt it rather than start a second.
    const old = this.runningFromBefore();
    if (old) this.adopt(old);
    else this.spawn();
    await this.waitReady(60_000);
  }

  private runningFromBefore(): number | null {
    try {
      const pid = Number(readFileSync(join(this.dir, 'containerd.pid'), 'utf8'));
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      return cmd.includes(join(this.dir, 'config.toml')) ? pid : null;
    } catch {
      return null;
    }
  }

  private adoptedPid: number | null = null;
  private adopt(pid: number) {
    this.adoptedPid = pid;
    const t = setInterval(() => {
      try {
        process.kill(pid, 0);
      } catch {
        clearInterval(t);
        this.adoptedPid = null;
        if (this.stopping) return;
        this.onLog('adopted containerd exited; starting a new one');
        this.restarts++;
        this.spawn();
      }
    }, 1000);
    t.unref();
  }

  private spawn() {
    const argv = [...this.wrap, 'containerd', '--config', join(this.dir, 'config.toml')];
    const p = execa(argv[0], argv.slice(1), {
      reject: false,
      stdin: 'ignore',
      stdout: { file: join(this.dir, 'containerd.log'), append: true },
      stderr: { file: join(this.dir, 'containerd.log'), append: true },
      cleanup: false,
    });

    this.proc = p;
    writeFileSync(join(this.dir, 'containerd.pid'), String(p.pid));
    void p.then((r) => {
      if (this.proc !== p || this.stopping) return;
      this.onLog(`containerd exited (${r.signal ?? r.exitCode}); restarting in ${this.backoffMs} ms`);
      this.restarts++;
      setTimeout(() => {
        if (!this.stopping) this.spawn();
      }, this.backoffMs);
      this.backoffMs = Math.min(this.backoffMs * 2, 10_000);
    });
  }

  async ready(): Promise<boolean> {
    const c = new CriClient(this.paths.socket);
    try {
      await c.version();
      this.backoffMs = 500;
      return true;
    } catch {
      return false;
    } finally {
      c.close();
    }
  }

  async waitReady(timeoutMs: number): Promise<void> {
    const end = Date.now() + timeoutMs;
    while (Date.now() < end) {
      if (await this.ready()) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(
      `containerd did not answer on ${this.paths.socket} within ${timeoutMs} ms ` +
        `(log: ${join(this.dir, 'containerd.log')})`,
    );
  }

  async stop(): Promise<void> {
    this.stopping = true;
    if (this.adoptedPid) {
      try {
        process.kill(this.adoptedPid, 'SIGTERM');
      } catch {
        /* gone */
      }
      return;
    }
    const p = this.proc;
    if (!p || (p.exitCode !== undefined && p.exitCode !== null)) return;
    p.kill('SIGTERM');
    const t = setTimeout(() => p.kill('SIGKILL'), 10_000);
    await p;
    clearTimeout(t);
  }
}
