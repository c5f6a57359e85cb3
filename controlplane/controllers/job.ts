// Jobs: pods run to completion — up to `parallelism` at once until `completions` succeeded
// (NonIndexed), or one success per index 0..completions-1 (Indexed, with
// JOB_COMPLETION_INDEX and a stable hostname); failures are retried with back-off
// (10 s doubling to 6 min) until backoffLimit, activeDeadlineSeconds stops it, and
// ttlSecondsAfterFinished deletes it. planJob is the pure part.
import { kubeTime } from '../api/time.ts';
import type { Registry } from '../api/registry.ts';
import { RESOURCES } from '../api/resources.ts';
import type { Informer } from './informer.ts';
import { keyOf } from './informer.ts';
import { controllerOf, ignoreGone, isReady } from './ownership.ts';
import { PodOwnerController } from './pod-owner.ts';
import { podFromTemplate, writeStatus } from './replicaset.ts';
import type { Obj } from '../shared/kube/object.ts';

const JOBS = RESOURCES.find((r) => r.kind === 'Job')!;
export const INDEX_ANNOTATION = 'batch.kubernetes.io/job-completion-index';

export interface JobPlan {
  create: Obj[];
  remove: Obj[];
  status: Obj;
  requeueMs?: number;
  deleteJob?: boolean;
}

/** "0-2,4,6-7" from a set of indexes. */
export function formatIndexes(xs: number[]): string {
  const s = [...new Set(xs)].sort((a, b) => a - b);
  const out: string[] = [];
  for (let i = 0; i < s.length; i++) {
    let j = i;
    while (j + 1 < s.length && s[j + 1] === s[j] + 1) j++;
    out.push(j > i ? `${s[i]}-${s[j]}` : String(s[i]));
    i = j;
  }
  return out.join(',');
}

const finished = (job: Obj) =>
  (job.status?.conditions ?? []).some(
    (c: Obj) => (c.type === 'Complete' || c.type === 'Failed') && c.status === 'True',
  );
const indexOf = (p: Obj) => Number(p.metadata.annotations?.[INDEX_ANNOTATION] ?? -1);

export function jobPod(job: Obj, index?: number): Obj {
  const p = podFromTemplate(job);
  if (index !== undefined) {
    p.metadata.generateName = `${job.metadata.name}-${index}-`;
    p.metadata.annotations = { ...(p.metadata.annotations ?? {}), [INDEX_ANNOTATION]: String(index) };
    p.metadata.labels[INDEX_ANNOTATION] = String(index);
    p.spec.hostname ??= `${job.metadata.name}-${index}`;
    for (const c of [...(p.spec.containers ?? []), ...(p.spec.initContainers ?? [])])
      c.env = [
        ...(c.env ?? []),
        {
          name: 'JOB_COMPLETION_INDEX',
          valueFrom: { fieldRef: { fieldPath: `metadata.annotations['${INDEX_ANNOTATION}']` } },
        },
      ];
  }
  return p;
}

export function planJob(job: Obj, pods: Obj[], now: number): JobPlan {
  const plan: JobPlan = { create: [], remove: [], status: {} };
  const mine = pods.filter((p) => controllerOf(p)?.uid === job.metadata.uid);
  const active = mine.filter(
    (p) => !p.metadata.deletionTimestamp && p.status?.phase !== 'Succeeded' && p.status?.phase !== 'Failed',
  );
  const succeededPods = mine.filter((p) => p.status?.phase === 'Succeeded');
  const failedPods = mine.filter((p) => p.status?.phase === 'Failed');
  const indexed = job.spec?.completionMode === 'Indexed';
  const completions: number | undefined = job.spec?.completions ?? undefined;
  const parallelism = job.spec?.parallelism ?? 1;
  const backoffLimit = job.spec?.backoffLimit ?? 6;
  const prev = job.status ?? {};
  const startTime = prev.startTime ?? kubeTime(now);
  const succeededIdx = indexed
    ? [...new Set(succeededPods.map(indexOf).filter((i) => i >= 0 && i < (completions ?? 0)))]
    : [];
  const succeeded = Math.max(indexed ? succeededIdx.length : succeededPods.length, indexed ? 0 : (prev.succeeded ?? 0));
  const failed = Math.max(failedPods.length, prev.failed ?? 0);
  const conditions: Obj[] = [...(prev.conditions ?? [])];
  const cond = (type: string, reason: string, message: string) => ({
    type,
    status: 'True',
    lastProbeTime: kubeTime(now),
    lastTransitionTime: kubeTime(now),
    reason,
    message,
  });
  plan.status = {
    startTime,
    active: active.length,
    succeeded,
    failed,
    ready: active.filter(isReady).length,
    ...(indexed ? { completedIndexes: formatIndexes(succeededIdx) } : {}),
    conditions,
  };
  if (prev.completionTime) plan.status.completionTime = prev.completionTime;

  if (finished(job)) {
    plan.remove = active;
    const done = Date.parse(
      prev.completionTime ?? conditions.find((c) => c.status === 'True')?.lastTransitionTime ?? kubeTime(now),
    );
    const ttl = job.spec?.ttlSecondsAfterFinished;
    if (ttl !== undefined && ttl !== null) {
      if (done + ttl * 1000 <= now) plan.deleteJob = true;
      else plan.requeueMs = done + ttl * 1000 - now;
    }
    return plan;
  }
  if (job.spec?.suspend) {
    plan.remove = active;
    return plan;
  }
  const deadline = job.spec?.activeDeadlineSeconds;
  if (deadline !== undefined && deadline !== null && Date.parse(startTime) + deadline * 1000 <= now) {
    plan.remove = active;
    conditions.push(cond('Failed', 'DeadlineExceeded', 'Job was active longer than specified deadline'));
    plan.status.active = 0;
    return plan;
  }
  if (failed > backoffLimit) {
    plan.remove = active;
    conditions.push(cond('Failed', 'BackoffLimitExceeded', 'Job has reached the specified backoff limit'));
    plan.status.active = 0;
    return plan;
  }
  const total = completions ?? 1;
  const complete = completions === undefined ? succeeded > 0 && active.length === 0 : succeeded >= total;
  if (complete) {
    conditions.push(cond('Complete', '', ''));
    delete conditions[conditions.length - 1].reason;
    delete conditions[conditions.length - 1].message;
    plan.status.completionTime = kubeTime(now);
    plan.remove = active;
    plan.status.active = 0;
    return plan;
  }
  // Back-off after failures: 10 s doubling, from the last failure.
  if (failed > 0) {
    const lastFail = Math.max(
      ...failedPods.map((p) =>
        Date.parse(
          p.status?.containerStatuses?.[0]?.state?.terminated?.finishedAt ?? p.metadata.creationTimestamp ?? 0,
        ),
      ),
      0,
    );
    const wait = Math.min(10_000 * 2 ** (failed - 1), 360_000);
    if (lastFail + wait > now && active.length === 0) {
      plan.requeueMs = lastFail + wait - now;
      return plan;
    }
  }
  if (deadline !== undefined && deadline !== null) plan.requeueMs = Date.parse(startTime) + deadline * 1000 - now;
  if (indexed) {
    const busy = new Set(active.map(indexOf));
    const done = new Set(succeededIdx);
    const free = Math.max(0, parallelism - active.length);
    for (let i = 0; i < total && plan.create.length < free; i++)
      if (!busy.has(i) && !done.has(i)) plan.create.push(jobPod(job, i));
  } else {
    const want = Math.min(
      parallelism,
      completions === undefined ? (succeeded > 0 ? 0 : parallelism) : total - succeeded,
    );
    for (let i = active.length; i < want; i++) plan.create.push(jobPod(job));
  }
  return plan;
}

export class JobController extends PodOwnerController {
  constructor(reg: Registry, owners: Informer, pods: Informer, log: (s: string) => void) {
    super(reg, 'Job', 'job-controller', owners, pods, log);
  }

  protected async reconcile(job: Obj, pods: Obj[]) {
    const plan = planJob(job, pods, Date.now());
    if (plan.deleteJob) {
      await this.reg
        .delete(
          JOBS,
          job.metadata.namespace,
          job.metadata.name,
          { propagationPolicy: 'Background', preconditions: { uid: job.metadata.uid } },
          this.ctx,
        )
        .catch(ignoreGone);
      return;
    }
    await this.deletePods(job, plan.remove);
    await this.createPods(job, plan.create);
    await writeStatus(this.reg, this.res, job, plan.status, this.ctx);
    const newly = (plan.status.conditions ?? []).find(
      (c: Obj) => c.status === 'True' && !(job.status?.conditions ?? []).some((x: Obj) => x.type === c.type),
    );
    if (newly)
      void this.events.record(
        job,
        newly.type === 'Complete' ? 'Normal' : 'Warning',
        newly.type === 'Complete' ? 'Completed' : newly.reason,
        newly.type === 'Complete' ? 'Job completed' : newly.message,
      );
    if (plan.requeueMs !== undefined) this.queue.addAfter(keyOf(job), Math.max(100, plan.requeueMs));
  }
}
