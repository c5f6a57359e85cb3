// Which ConfigMaps and Secrets a pod needs on its node: volumes (including projected), env
// valueFrom and envFrom of every container. Pure, so the channel can tell exactly which Secrets
// a node may be sent.
import type { Ingress, Pod } from '../shared/kube/index.ts';

export interface Refs {
  configMaps: Set<string>;
  secrets: Set<string>;
}

export function podRefs(pod: Pod): Refs {
  const ns = pod.metadata?.namespace ?? '';
  const configMaps = new Set<string>(),
    secrets = new Set<string>();
  const cm = (n: string | undefined) => {
    if (n) configMaps.add(`${ns}/${n}`);
  };
  const sec = (n: string | undefined) => {
    if (n) secrets.add(`${ns}/${n}`);
  };
  const spec = pod.spec;
  for (const v of spec.volumes ?? []) {
    cm(v.configMap?.name);
    sec(v.secret?.secretName);
    for (const src of v.projected?.sources ?? []) {
      cm(src.configMap?.name);
      sec(src.secret?.name);
    }
  }
  for (const c of [...(spec.initContainers ?? []), ...spec.containers, ...(spec.ephemeralContainers ?? [])]) {
    for (const e of c.env ?? []) {
      cm(e.valueFrom?.configMapKeyRef?.name);
      sec(e.valueFrom?.secretKeyRef?.name);
    }
    for (const e of c.envFrom ?? []) {
      cm(e.configMapRef?.name);
      sec(e.secretRef?.name);
    }
  }
  for (const s of spec.imagePullSecrets ?? []) sec(s.name);
  return { configMaps, secrets };
}

/** The Secrets an Ingress names for TLS (`spec.tls[].secretName`, in the Ingress's namespace). */
export function ingressTlsRefs(ing: Ingress): Set<string> {
  const ns = ing.metadata.namespace ?? '';
  const out = new Set<string>();
  for (const t of ing.spec.tls ?? []) if (t.secretName) out.add(`${ns}/${t.secretName}`);
  return out;
}

/** Only TLS Secrets are sent for Ingresses: an Ingress naming an Opaque Secret does not reveal it. */
export const TLS_SECRET_TYPE = 'kubernetes.io/tls';
