import { quantity } from '../../controlplane/shared/resources.ts';
import type { ConfigMap, Container, Pod, ResourceFieldSelector, Secret } from '../../controlplane/shared/kube/index.ts';
// Container environment: env (value, valueFrom) and envFrom resolved against the pod, its
// ConfigMaps and Secrets, with Kubernetes' $(VAR) expansion. Pure.

export class EnvError extends Error {}

export interface EnvSources {
  pod: Pod;
  podIP?: string;
  hostIP?: string;
  configMap(name: string): ConfigMap | undefined;
  secret(name: string): Secret | undefined;
}

/** $(VAR) from earlier definitions; $$(VAR) stays literal "$(VAR)"; unknown references stay as written. */
export function expand(s: string, vars: Map<string, string>): string {
  return s.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)/g, (m, name) => {
    if (m === '$$') return '$';
    return vars.has(name) ? vars.get(name)! : m;
  });
}

export function fieldRef(pod: Pod, path: string, src: Pick<EnvSources, 'podIP' | 'hostIP'>): string {
  const meta = pod.metadata ?? {};
  const m = path.match(/^metadata\.(labels|annotations)\['(.+)'\]$/);
  if (m) return meta[m[1] as 'labels' | 'annotations']?.[m[2]] ?? '';
  switch (path) {
    case 'metadata.name':
      return meta.name ?? '';
    case 'metadata.namespace':
      return meta.namespace ?? '';
    case 'metadata.uid':
      return meta.uid ?? '';
    case 'spec.nodeName':
      return pod.spec?.nodeName ?? '';
    case 'spec.serviceAccountName':
      return pod.spec?.serviceAccountName ?? '';
    case 'status.podIP':
      return src.podIP ?? '';
    case 'status.podIPs':
      return src.podIP ?? '';
    case 'status.hostIP':
      return src.hostIP ?? '';
    case 'status.hostIPs':
      return src.hostIP ?? '';
    case 'metadata.labels':
      return Object.entries(meta.labels ?? {})
        .map(([k, v]) => `${k}="${v}"`)
        .join('\n');
    case 'metadata.annotations':
      return Object.entries(meta.annotations ?? {})
        .map(([k, v]) => `${k}="${v}"`)
        .join('\n');
    default:
      throw new EnvError(`unsupported fieldRef ${path}`);
  }
}

function resourceRef(pod: Pod, container: Container, ref: ResourceFieldSelector): string {
  const c = ref.containerName ? (pod.spec?.containers ?? []).find((x) => x.name === ref.containerName) : container;
  const [kind, res] = String(ref.resource).split('.');
  const v = kind === 'limits' || kind === 'requests' ? c?.resources?.[kind]?.[res] : undefined;
  const divisor = quantity(ref.divisor ?? (res === 'cpu' ? '1' : '1'));
  if (v === undefined) return '0';
  return String(Math.ceil(quantity(v) / (divisor || 1)));
}

export function resolveEnv(container: Container, src: EnvSources): { key: string; value: string }[] {
  const vars = new Map<string, string>();
  for (const from of container.envFrom ?? []) {
    const prefix = from.prefix ?? '';
    if (from.configMapRef) {
      const cm = src.configMap(from.configMapRef.name);
      if (!cm) {
        if (!from.configMapRef.optional) throw new EnvError(`configmap "${from.configMapRef.name}" not found`);
        continue;
      }
      for (const [k, v] of Object.entries(cm.data ?? {})) vars.set(prefix + k, String(v));
    }
    if (from.secretRef) {
      const s = src.secret(from.secretRef.name);
      if (!s) {
        if (!from.secretRef.optional) throw new EnvError(`secret "${from.secretRef.name}" not found`);
        continue;
      }
      for (const [k, v] of Object.entries(s.data ?? {}))
        vars.set(prefix + k, Buffer.from(String(v), 'base64').toString());
    }
  }
  for (const e of container.env ?? []) {
    let value: string | undefined;
    if (e.valueFrom) {
      const vf = e.valueFrom;
      if (vf.configMapKeyRef) {
        const cm = src.configMap(vf.configMapKeyRef.name);
        value = cm?.data?.[vf.configMapKeyRef.key];
        if (value === undefined) {
          if (vf.configMapKeyRef.optional) continue;
          throw new EnvError(
            cm
              ? `couldn't find key ${vf.configMapKeyRef.key} in ` +
                  `ConfigMap ${src.pod.metadata.namespace}/${vf.configMapKeyRef.name}`
              : `configmap "${vf.configMapKeyRef.name}" not found`,
          );
        }
      } else if (vf.secretKeyRef) {
        const s = src.secret(vf.secretKeyRef.name);
        const raw = s?.data?.[vf.secretKeyRef.key];
        if (raw === undefined) {
          if (vf.secretKeyRef.optional) continue;
          throw new EnvError(
            s
              ? `couldn't find key ${vf.secretKeyRef.key} in ` +
                  `Secret ${src.pod.metadata.namespace}/${vf.secretKeyRef.name}`
              : `secret "${vf.secretKeyRef.name}" not found`,
          );
        }
        value = Buffer.from(raw, 'base64').toString();
      } else if (vf.fieldRef) value = fieldRef(src.pod, vf.fieldRef.fieldPath, src);
      else if (vf.resourceFieldRef) value = resourceRef(src.pod, container, vf.resourceFieldRef);
    } else value = expand(String(e.value ?? ''), vars);
    vars.set(e.name, value ?? '');
  }
  return [...vars].map(([key, value]) => ({ key, value }));
}

/** command and args with $(VAR) expanded against the container's environment. */
export function expandCommand(list: string[] | undefined, env: { key: string; value: string }[]): string[] {
  const vars = new Map(env.map((e) => [e.key, e.value]));
  return (list ?? []).map((s) => expand(s, vars));
}
