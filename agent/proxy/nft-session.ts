// One long-lived `nft -i` process that takes a transaction per input line. Starting `nft -f -`
// for every partial sync cost about 5 ms to start, and its exit after a commit that touched chains
// waited another 10–15 ms in the kernel (closing the nf_tables netlink socket); the process here
// starts once, so an endpoint change costs nft's parse and the commit. docs/proxy.md, "Syncs".
//
// nft reads a line as one batch: commands joined by `;` commit together or not at all. After each
// transaction a marker line is sent that nft cannot parse; its error, printed to stderr after any
// error of the transaction, says the transaction is done, and whatever stderr held before it are
// the transaction's errors.
import type { ChildProcessByStdio } from 'node:child_process';
import { execa } from 'execa';
import type { Socket } from 'node:net';
import type { Writable } from 'node:stream';

/** Lines one process takes before it is replaced (nft's line editor keeps each one in memory). */
const MAX_TRANSACTIONS = 500;
/** …and bytes: libedit's history has no cap, so a process's memory grows with what it was sent. */
const MAX_BYTES = 16 << 20;
/** A transaction not answered within this is taken as failed and the process is ended. */
const TIMEOUT_MS = 60_000;

interface Waiting {
  proc: NftProcess;
  marker: string;
  resolve: (errors: string) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

// A child's pipes are sockets: they can be ref'd and unref'd.
type NftProcess = ChildProcessByStdio<Writable & Pick<Socket, 'unref'>, Socket, Socket>;

/** What a line must not hold: a newline or carriage return (libedit ends the line there), NUL. */
const LINE_BREAKING = /[\n\r\0]/;

/**
 * nft rebuilds its cache for every transaction, with hash tables of some 128 KiB per table of the
 * family. glibc serves blocks that large with mmap and unmaps them when freed, so each transaction
 * faulted fresh zeroed pages in again: 34 ms per transaction with 16 tables on a paravirtualised
 * host, where page faults are dear, against 1 ms with these limits (served from the heap, kept
 * between transactions). The heap then keeps up to the largest cache nft has built.
 */
const KEEP_CACHE_MEMORY = 'glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=16777216';

export class NftSession {
  private proc?: NftProcess;
  /** The current process's stderr not yet matched to a transaction. */
  private stderr = '';
  private waiting?: Waiting;
  private used = 0;
  private sent = 0;
  private closed = false;
  private queue: Promise<unknown> = Promise.resolve();
  private seq = 0;
  private readonly command: string[];

  /** `command`: how to start nft (with `-i` added), e.g. `['nsenter', '--net=…', 'nft']`. */
  constructor(command: string[]) {
    this.command = command;
  }

  /**
   * Runs one transaction (commands on one line, joined by `;`). Resolves with nft's error output
   * for it: empty when the transaction was committed.
   */
  run(line: string): Promise<string> {
    const next = this.queue.then(() => this.runNow(line));
    this.queue = next.catch(() => {});
    return next;
  }

  /** Ends the process; the session takes no transaction after this. */
  close(): void {
    this.closed = true;
    this.retire();
  }

  /** Ends the current process at the end of its input (a transaction it has read still finishes). */
  private retire(): void {
    const p = this.proc;
    this.proc = undefined;
    if (!p) return;
    p.stdin.end();
    // nft ends at the end of its input; a process stuck in the kernel is not waited for.
    const kill = setTimeout(() => p.kill('SIGKILL'), 5_000);
    kill.unref();
    p.once('exit', () => clearTimeout(kill));
  }

  private runNow(line: string): Promise<string> {
    if (this.closed) return Promise.reject(new Error('the nft session is closed'));
    // A trailing backslash continues the line in nft: the marker would join the transaction.
    if (LINE_BREAKING.test(line) || line.endsWith('\\'))
      return Promise.reject(new Error('an nft transaction for the session must be one plain line'));
    if (this.used >= MAX_TRANSACTIONS || this.sent >= MAX_BYTES) this.retire();
    const p = this.proc ?? this.start();
    this.used++;
    this.sent += line.length;
    const marker = `skiff-transaction-done-${process.pid}-${++this.seq}`;
    return new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.fail(new Error(`nft did not answer within ${TIMEOUT_MS / 1000} s`));
        if (this.proc === p) this.proc = undefined;
        p.kill('SIGKILL');
      }, TIMEOUT_MS);
      this.waiting = { proc: p, marker, resolve, reject, timer };
      // While a transaction is out the process keeps the agent's event loop alive; idle, it does not.
      p.stderr.ref();
      p.stdin.write(`${line}\n${marker}\n`);
    });
  }

  private start(): NftProcess {
    const [cmd, ...args] = [...this.command, '-i'];
    // HOME elsewhere: nft's line editor writes its whole history to a file there at exit.
    // Through execa like every other nft run (its exit hook ends the process with the agent's).
    const sub = execa(cmd, args, {
      stdin: 'pipe',
      stdout: 'pipe',
      stderr: 'pipe',
      buffer: false,
      reject: false,
      // The operator's own tunables, if any, come last and win.
      env: {
        HOME: '/nonexistent',
        GLIBC_TUNABLES: [KEEP_CACHE_MEMORY, process.env.GLIBC_TUNABLES].filter(Boolean).join(':'),
      },
    });
    sub.catch(() => {}); // the outcome is read from the `close` event below
    // execa's subprocess is a ChildProcess with piped stdio, whose pipes are sockets.
    const p = sub as unknown as NftProcess;
    this.proc = p;
    this.used = 0;
    this.sent = 0;
    this.stderr = '';
    p.stdout.resume(); // a prompt or `describe` output: nothing of ours, but the pipe must not fill
    p.stderr.setEncoding('utf8');
    // A retired process still answers the transaction it was given.
    p.stderr.on('data', (d: string) => (this.waiting?.proc ?? this.proc) === p && this.onStderr(d));
    p.stdin.on('error', () => {}); // a dead process: reported through `exit`
    p.on('error', (e) => this.gone(p, e));
    // `close`, not `exit`: after its pipes are drained, so a marker nft printed last is not missed.
    p.on('close', (code, signal) => {
      // What it said last (nsenter's or nft's own complaint) is the likeliest reason.
      const said = this.waiting?.proc === p ? this.stderr.trim().split('\n').at(-1) : undefined;
      this.gone(p, new Error(`nft -i exited (${signal ?? code})${said ? `: ${said.slice(0, 300)}` : ''}`));
    });
    for (const h of [p, p.stdin, p.stdout, p.stderr]) h.unref();
    return p;
  }

  private onStderr(d: string): void {
    this.stderr += d;
    const w = this.waiting;
    if (!w) return;
    // The marker's own error: an `Error:` line, the marker alone on the next line, then carets.
    // (Only on a line of its own: echoed inside a transaction's error, it would not count.)
    const at = this.stderr.indexOf(`\n${w.marker}\n`);
    if (at < 0) return;
    const before = this.stderr.slice(0, at);
    const ownStart = before.lastIndexOf('\n') + 1;
    if (!before.slice(ownStart).includes('Error:')) return;
    const errors = before.slice(0, ownStart);
    // The marker's caret line, now or when it arrives, is dropped by stripCarets with the next output.
    this.stderr = this.stderr.slice(at + w.marker.length + 2);
    this.settle();
    w.resolve(stripCarets(errors));
  }

  private settle(): void {
    const w = this.waiting;
    if (!w) return;
    clearTimeout(w.timer);
    this.waiting = undefined;
    w.proc.stderr.unref();
  }

  private fail(e: Error): void {
    const w = this.waiting;
    this.settle();
    w?.reject(e);
  }

  private gone(p: NftProcess, e: Error): void {
    if (this.proc === p) this.proc = undefined;
    if (this.waiting?.proc === p) this.fail(e);
  }
}

/** Caret lines left at the start of a transaction's output by the marker before it. */
function stripCarets(s: string): string {
  return s.replace(/^[ \t^~]*\n/, '').trim();
}
