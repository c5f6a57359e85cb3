// A Job's rule: unless manualSelector is set, its selector and its pods' labels are generated
// from the Job's uid (so two Jobs never select each other's pods).
import type { Job, PodTemplateSpec } from '../../shared/kube/index.ts';
import { defaultStrategy } from './default.ts';
import type { Strategy } from './strategy.ts';

export function generateJobSelector(job: Job): void {
  const s = job.spec;
  if (!s || s.manualSelector || s.selector) return;
  // The registry has given the Job its uid (on create) or kept it (on update) before this runs.
  const uid = job.metadata.uid as string;
  const name = job.metadata.name as string;
  s.selector = { matchLabels: { 'batch.kubernetes.io/controller-uid': uid } };
  // A Job without a template is refused by validation, which runs after this.
  s.template ??= {} as PodTemplateSpec;
  s.template.metadata ??= {};
  s.template.metadata.labels = {
    ...(s.template.metadata.labels ?? {}),
    'batch.kubernetes.io/controller-uid': uid,
    'batch.kubernetes.io/job-name': name,
    'controller-uid': uid,
    'job-name': name,
  };
}

export const jobStrategy: Strategy<Job> = {
  ...defaultStrategy,
  canonicalize: generateJobSelector,
};
