// Every active namespace has a ServiceAccount named "default" (recreated if deleted).
import type { Registry } from '../api/registry.ts';
import { RESOURCES } from '../api/resources.ts';
import { ApiError } from '../api/status.ts';
import type { Informer } from './informer.ts';
import { ctxFor } from './pod-owner.ts';

const SA = RESOURCES.find((r) => r.kind === 'ServiceAccount')!;

export function startServiceAccounts(
  reg: Registry,
  namespaces: Informer,
  accounts: Informer,
  log: (s: string) => void,
) {
  const ctx = ctxFor('serviceaccount-controller');
  const ensure = (ns: string) => {
    const n = namespaces.get(ns);
    if (!n || n.metadata.deletionTimestamp || accounts.get(`${ns}/default`)) return;
    reg
      .create(SA, ns, { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'default', namespace: ns } }, ctx)
      .catch((e) => {
        if (!(e instanceof ApiError && (e.code === 409 || e.code === 403 || e.code === 404)))
          log(`serviceaccount ${ns}/default: ${(e as Error).message}`);
      });
  };
  namespaces.onChange((type, n) => {
    if (type !== 'DELETED') ensure(n.metadata.name);
  });
  accounts.onChange((type, sa) => {
    if (type === 'DELETED' && sa.metadata.name === 'default') ensure(sa.metadata.namespace);
  });
  for (const n of namespaces.list()) ensure(n.metadata.name);
}
