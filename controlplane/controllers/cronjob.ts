// CronJobs: at each scheduled time a Job from jobTemplate, under concurrencyPolicy (Allow,
// Forbid, Replace), startingDeadlineSeconds and suspend; finished Jobs beyond the history
// limits are deleted; status lists active Jobs and the last schedule and success times.
// planCronJob is the pure part.
import { kubeTime } from '../api/time.ts';
import type { Ctx, Registry } from '../api/registry.ts';
import { RESOURCES } from '../api/resources.ts';
import { type Informer, keyOf } from './informer.ts';
import { WorkQueue } from './queue.ts';
import { EventRecorder } from './events.ts';
import { controllerOf, ignoreGone, ownerRef } from './ownership.ts';
import { ctxFor } from './pod-owner.ts';
import { writeStatus } from './replicaset.ts';
import { nextAfter, parseCron, scheduledBetween } from './cron.ts';
import type { Condition, Obj } from '../shared/kube/index.ts';

const JOBS = RESOURCES.find((r) => r.kind === 'Job')!;
const CRONJOBS = RESOURCES.find((r) => r.kind === 'CronJob')!;
export const SCHEDULED_AT = 'batch.kubernetes.io/cronjob-scheduled-timestamp';

const jobState = (j: Obj) =>
  ((j.status?.conditions ?? []) as Condition[]).find(
    (c) => (c.type === 'Complete' || c.type === 'Failed') && c.status === 'True',
  )?.type as 'Complete' | 'Failed' | undefined;

export interface CronPlan {
  create?: Obj;
  remove: Obj[];
  status: Obj;
  nextMs?: number;
  message?: string;
}

export function planCronJob(cj: Obj, jobs: Obj[], now: number): CronPlan {
  const mine = jobs.filter((j) => controllerOf(j)?.uid === cj.metadata.uid);
  const active = mine.filter((j) => !jobState(j) && !j.metadata.deletionTimestamp);
  const plan: CronPlan = { remove: [], status: {} };
  const prev = cj.status ?? {};
  // Only a completion time counts (Date.parse(0) would read as the year 2000).
  const lastSuccess = mine
    .filter((j) => jobState(j) === 'Complete' && typeof j.status?.completionTime === 'string')
    .map((j) => Date.parse(j.status.completionTime))
    .filter((t) => !Number.isNaN(t))
    .reduce((a, b) => Math.max(a, b), prev.lastSuccessfulTime ? Date.parse(prev.lastSuccessfulTime) : 0);
  plan.status = {
    active: active.length
      ? active.map((j) => ({
          kind: 'Job',
          namespace: j.metadata.namespace,
          name: j.metadata.name,
          uid: j.metadata.uid,
          apiVersion: 'batch/v1',
          resourceVersion: j.metadata.resourceVersion,
        }))
      : null,
    ...(prev.lastScheduleTime ? { lastScheduleTime: prev.lastScheduleTime } : {}),
    ...(lastSuccess ? { lastSuccessfulTime: kubeTime(lastSuccess) } : {}),
  };
  // History limits, oldest first.
  for (const [state, limit] of [
    ['Complete', cj.spec?.successfulJobsHistoryLimit ?? 3],
    ['Failed', cj.spec?.failedJobsHistoryLimit ?? 1],
  ] as const) {
    const done = mine
      .filter((j) => jobState(j) === state && !j.metadata.deletionTimestamp)
      .sort((a, b) => Date.parse(a.metadata.creationTimestamp ?? 0) - Date.parse(b.metadata.creationTimestamp ?? 0));
    plan.remove.push(...done.slice(0, Math.max(0, done.length - limit)));
  }
  let cron: ReturnType<typeof parseCron>;
  try {
    cron = parseCron(cj.spec?.schedule ?? '');
  } catch (e) {
    plan.message = `invalid schedule "${cj.spec?.schedule}": ${(e as Error).message}`;
    return plan;
  }
  const since = prev.lastScheduleTime
    ? Date.parse(prev.lastScheduleTime)
    : Date.parse(cj.metadata.creationTimestamp ?? kubeTime(now));
  const next = nextAfter(cron, now);
  if (next !== null) plan.nextMs = next - now;
  if (cj.spec?.suspend) return plan;
  const due = scheduledBetween(cron, since, now);
  if (!due.length) return plan;
  const at = due[due.length - 1];
  plan.status.lastScheduleTime = kubeTime(at);
  const deadline = cj.spec?.startingDeadlineSeconds;
  if (deadline !== undefined && deadline !== null && at + deadline * 1000 < now) {
    plan.message = `missed the start of the run scheduled at ${kubeTime(at)} (startingDeadlineSeconds)`;
    return plan;
  }
  const name = `${cj.metadata.name}-${Math.floor(at / 60_000)}`;
  if (mine.some((j) => j.metadata.name === name)) return plan;
  const policy = cj.spec?.concurrencyPolicy ?? 'Allow';
  if (policy === 'Forbid' && active.length) {
    plan.status.lastScheduleTime = prev.lastScheduleTime;
    plan.message = 'skipped: a previous run is still active (Forbid)';
    return plan;
  }
  if (policy === 'Replace') plan.remove.push(...active);
  const t = cj.spec?.jobTemplate ?? {};
  plan.create = {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: {
      name,
      namespace: cj.metadata.namespace,
      labels: t.metadata?.labels ?? {},
      annotations: { ...(t.metadata?.annotations ?? {}), [SCHEDULED_AT]: kubeTime(at) },
      ownerReferences: [ownerRef(cj)],
    },
    spec: structuredClone(t.spec ?? {}),
  };
  return plan;
}

export class CronJobController {
  private reg: Registry;
  private cronjobs: Informer;
  private jobs: Informer;
  private queue: WorkQueue;
  private events: EventRecorder;
  private ctx: Ctx = ctxFor('cronjob-controller');

  constructor(reg: Registry, cronjobs: Informer, jobs: Informer, log: (s: string) => void) {
    this.reg = reg;
    this.cronjobs = cronjobs;
    this.jobs = jobs;
    this.events = new EventRecorder(reg, 'cronjob-controller');
    this.queue = new WorkQueue(
      (k) => this.sync(k),
      (s) => log(`CronJob ${s}`),
    );
  }

  start() {
    this.cronjobs.onChange((_t, c) => this.queue.add(keyOf(c)));
    this.jobs.onChange((_t, j) => {
      const c = controllerOf(j);
      if (c?.kind === 'CronJob') this.queue.add(`${j.metadata.namespace}/${c.name}`);
    });
    for (const c of this.cronjobs.list()) this.queue.add(keyOf(c));
  }

  stop() {
    this.queue.stop();
  }

  private async sync(key: string) {
    const cj = this.cronjobs.get(key);
    if (!cj) return;
    const plan = planCronJob(cj, this.jobs.list(cj.metadata.namespace), Date.now());
    for (const j of plan.remove) {
      await this.reg
        .delete(JOBS, j.metadata.namespace, j.metadata.name, { propagationPolicy: 'Background' }, this.ctx)
        .catch(ignoreGone);
      void this.events.record(cj, 'Normal', 'SuccessfulDelete', `Deleted job ${j.metadata.name}`);
    }
    if (plan.create) {
      try {
        await this.reg.create(JOBS, cj.metadata.namespace, plan.create, this.ctx);
        void this.events.record(cj, 'Normal', 'SuccessfulCreate', `Created job ${plan.create.metadata.name}`);
      } catch (e) {
        ignoreGone(e);
      }
    }
    if (plan.message) void this.events.record(cj, 'Warning', 'JobSkipped', plan.message);
    await writeStatus(this.reg, CRONJOBS, cj, plan.status, this.ctx);
    if (plan.nextMs !== undefined) this.queue.addAfter(key, Math.min(plan.nextMs + 50, 3600_000));
  }
}
