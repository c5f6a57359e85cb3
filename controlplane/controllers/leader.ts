// Leader election through a Lease (kube-system/skiff-controller-manager), as kube-controller-
// manager does it: the holder renews every retry period; another server takes the Lease over
// once it has not been renewed for its duration, with the resourceVersion as the guard, so at
// most one server runs the controllers and the scheduler at a time.
import type { Ctx, Registry } from '../api/registry.ts';
import { RESOURCES } from '../api/resources.ts';
import { ApiError } from '../api/status.ts';
import type { Lease } from '../shared/kube/index.ts';

const LEASES = RESOURCES.find((r) => r.kind === 'Lease')!;
const micro = (ms: number) => new Date(ms).toISOString().replace('Z', '000Z');

export interface LeaderOptions {
  name?: string;
  namespace?: string;
  durationSeconds?: number;
  retrySeconds?: number;
}

/** Pure: may `me` hold the lease now? */
export function canHold(lease: Lease | null, me: string, now: number): boolean {
  if (!lease) return true;
  const holder = lease.spec?.holderIdentity ?? '';
  if (!holder || holder === me) return true;
  const at = lease.spec?.renewTime ?? lease.spec?.acquireTime;
  const renewed = at ? Date.parse(at) : Number.NaN;
  // Never renewed, or a time that does not parse: nothing to wait for (NaN would block forever).
  if (Number.isNaN(renewed)) return true;
  return renewed + (lease.spec?.leaseDurationSeconds ?? 15) * 1000 < now;
}

export class LeaderElector {
  private reg: Registry;
  private me: string;
  private name: string;
  private ns: string;
  private duration: number;
  private retry: number;
  private timer: NodeJS.Timeout | null = null;
  /** Set by stop: an attempt still in flight then neither takes the lease nor starts leading. */
  private stopped = false;
  private leading = false;
  private lastRenew = 0;
  private ctx: Ctx;
  private onStart: () => Promise<void>;
  private onStop: () => void;
  private log: (s: string) => void;

  constructor(
    reg: Registry,
    identity: string,
    onStart: () => Promise<void>,
    onStop: () => void,
    log: (s: string) => void,
    o: LeaderOptions = {},
  ) {
    this.reg = reg;
    this.me = identity;
    this.name = o.name ?? 'skiff-controller-manager';
    this.ns = o.namespace ?? 'kube-system';
    this.duration = o.durationSeconds ?? 10;
    this.retry = o.retrySeconds ?? 2;
    this.onStart = onStart;
    this.onStop = onStop;
    this.log = log;
    this.ctx = {
      user: 'system:kube-controller-manager',
      manager: 'leader-election',
      dryRun: false,
      fieldValidation: 'Ignore',
      warnings: [],
    };
  }

  start() {
    const tick = () => {
      void this.attempt().finally(() => {
        if (!this.stopped) this.timer = setTimeout(tick, this.retry * 1000);
      });
    };
    this.timer = setTimeout(tick, 0);
  }

  private async attempt() {
    const now = Date.now();
    try {
      let lease: Lease | null = null;
      try {
        lease = (await this.reg.get(LEASES, this.ns, this.name)) as Lease;
      } catch (e) {
        if (!(e instanceof ApiError && e.code === 404)) throw e;
      }
      if (!canHold(lease, this.me, now)) {
        if (this.leading) this.lose('another server holds the lease');
        return;
      }
      if (this.stopped) return;
      const taking = lease?.spec?.holderIdentity !== this.me;
      const spec = {
        holderIdentity: this.me,
        leaseDurationSeconds: this.duration,
        renewTime: micro(now),
        acquireTime: taking ? micro(now) : lease!.spec.acquireTime,
        leaseTransitions: (lease?.spec?.leaseTransitions ?? 0) + (taking && lease ? 1 : 0),
      };
      if (!lease)
        await this.reg.create(
          LEASES,
          this.ns,
          {
            apiVersion: 'coordination.k8s.io/v1',
            kind: 'Lease',
            metadata: { name: this.name, namespace: this.ns },
            spec,
          },
          this.ctx,
        );
      else await this.reg.update(LEASES, this.ns, this.name, { ...lease, spec }, this.ctx);
      this.lastRenew = now;
      if (!this.leading && !this.stopped) {
        this.leading = true;
        this.log(`leader election: ${this.me} now leads (${this.ns}/${this.name})`);
        try {
          await this.onStart();
        } catch (e) {
          // Not leading without controllers: the next attempt, still holding the lease, starts again.
          this.leading = false;
          this.onStop();
          throw e;
        }
      }
    } catch (e) {
      // A conflict means someone else wrote first; an error of the store counts against us too.
      if (!(e instanceof ApiError && (e.code === 409 || e.code === 404)))
        this.log(`leader election: ${(e as Error).message}`);
      if (this.leading && Date.now() - this.lastRenew > this.duration * 1000)
        this.lose('could not renew the lease in time');
    }
  }

  private lose(why: string) {
    this.leading = false;
    this.log(`leader election: ${this.me} stops leading: ${why}`);
    this.onStop();
  }

  /** Stops; a leader hands the lease back so another takes over at once. */
  async stop() {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    // onStart may still be running: onStop must cope with that (the server's does).
    if (this.leading) {
      this.leading = false;
      this.onStop();
    }
    // Handed back also when the last attempt renewed it but, stopping, did not start leading.
    try {
      const lease = await this.reg.get(LEASES, this.ns, this.name);
      if (lease.spec?.holderIdentity === this.me)
        await this.reg.update(
          LEASES,
          this.ns,
          this.name,
          { ...lease, spec: { ...lease.spec, holderIdentity: '', renewTime: micro(0) } },
          this.ctx,
        );
    } catch {
      /* the next leader waits out the duration */
    }
  }
}
