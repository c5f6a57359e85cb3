// A long-lived `ip -force -j -batch -` (or `bridge ...`) the overlay writes its changes to: a Node
// change then costs a pipe write instead of starting two processes, which on a busy node took
// tens of milliseconds each. Each run writes its lines and then a harmless show command; that
// command's one line of JSON on stdout says every line before it was carried out, and what the
// lines wrote to stderr meanwhile are their errors. A session that dies or hangs is started anew
// on the next run.
import { type ChildProcess, spawn } from 'node:child_process';

export class BatchSession {
  private child: ChildProcess | null = null;
  private out = '';
  private err = '';
  private done: ((e?: Error) => void) | null = null;
  private queue: Promise<unknown> = Promise.resolve();
  private readonly argv: string[];
  private readonly sentinel: string;

  /** argv: the batch command (wrapped in nsenter where needed); sentinel: a show command that prints one line. */
  constructor(argv: string[], sentinel: string) {
    this.argv = argv;
    this.sentinel = sentinel;
  }

  /** Carries out the lines in order; resolves with their errors ('' when all succeeded). */
  run(lines: string[], timeoutMs = 5_000): Promise<string> {
    const p = this.queue.then(() => this.once(lines, timeoutMs));
    this.queue = p.catch(() => {});
    return p;
  }

  close(): void {
    const c = this.child;
    this.child = null;
    c?.stdin?.end();
    c?.kill();
  }

  private start(): ChildProcess {
    const c = spawn(this.argv[0], this.argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] });
    c.stdout!.setEncoding('utf8').on('data', (d: string) => {
      this.out += d;
      if (this.out.includes('\n')) this.done?.();
    });
    c.stderr!.setEncoding('utf8').on('data', (d: string) => {
      this.err += d;
    });
    const gone = (why: string) => {
      if (this.child === c) this.child = null;
      this.done?.(new Error(`${this.argv.join(' ')}: ${why}${this.err ? `: ${this.err.trim()}` : ''}`));
    };
    c.on('error', (e) => gone(e.message));
    c.on('exit', (code, signal) => gone(`exited (${signal ?? code})`));
    c.stdin!.on('error', () => {}); // a dead child's pipe: reported through 'exit'
    return c;
  }

  private once(lines: string[], timeoutMs: number): Promise<string> {
    this.child ??= this.start();
    const c = this.child;
    this.out = '';
    this.err = '';
    return new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.close();
        finish(new Error(`${this.argv.join(' ')} did not answer within ${timeoutMs} ms`));
      }, timeoutMs);
      const finish = (e?: Error) => {
        if (!this.done) return;
        this.done = null;
        clearTimeout(timer);
        if (e) reject(e);
        // stderr was written before the sentinel's answer; one more turn of the loop reads it.
        else setImmediate(() => resolve(this.err.trim()));
      };
      this.done = finish;
      c.stdin!.write(`${[...lines, this.sentinel].join('\n')}\n`);
    });
  }
}
