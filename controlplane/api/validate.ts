// Semantic validation: names, labels, annotations and the per-kind rules Kubernetes enforces.
import { isIP } from 'node:net';
import type { Errs } from './status.ts';
import type { Obj } from '../shared/kube/object.ts';
import { matchesLabelSelector } from '../shared/labels.ts';
import { isDnsName, isMacAddress, validPort } from '../shared/net-values.ts';

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const QUALIFIED_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const IANA_SVC_NAME = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/;
const CONFIG_KEY = /^[-._a-zA-Z0-9]+$/;
const C_IDENTIFIER_LIKE = /^[-._a-zA-Z][-._a-zA-Z0-9]*$/;

export function dnsLabelErrors(v: string): string | null {
  if (v.length > 63) return 'must be no more than 63 characters';
  if (!DNS1123_LABEL.test(v))
    return (
      "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start " +
      "and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is " +
      "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
    );
  return null;
}

export function dnsSubdomainErrors(v: string): string | null {
  if (v.length > 253) return 'must be no more than 253 characters';
  if (!DNS1123_SUBDOMAIN.test(v))
    return (
      "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and " +
      "must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is " +
      "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
    );
  return null;
}

function pathSegmentErrors(v: string): string | null {
  if (v === '.' || v === '..') return `may not be '${v}'`;
  if (v.includes('/') || v.includes('%')) return "may not contain '/' or '%'";
  return null;
}

/** Which name rule a kind's metadata.name follows. */
const NAME_RULE: Record<string, (v: string) => string | null> = {
  Namespace: dnsLabelErrors,
  Service: dnsLabelErrors,
  Role: pathSegmentErrors,
  ClusterRole: pathSegmentErrors,
  RoleBinding: pathSegmentErrors,
  ClusterRoleBinding: pathSegmentErrors,
};

export function qualifiedNameErrors(key: string): string | null {
  const parts = key.split('/');
  if (parts.length > 2)
    return (
      "a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and end with " +
      "an alphanumeric character, with an optional DNS subdomain prefix and '/'"
    );
  const [prefix, name] = parts.length === 2 ? parts : [undefined, parts[0]];
  if (prefix !== undefined) {
    if (!prefix) return 'prefix part must be non-empty';
    const e = dnsSubdomainErrors(prefix);
    if (e) return `prefix part ${e}`;
  }
  if (!name) return 'name part must be non-empty';
  if (name.length > 63) return 'name part must be no more than 63 characters';
  if (!QUALIFIED_NAME.test(name))
    return (
      "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an " +
      "alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is " +
      "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
    );
  return null;
}

export function labelValueErrors(v: string): string | null {
  if (v.length > 63) return 'must be no more than 63 characters';
  if (!LABEL_VALUE.test(v))
    return (
      "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must " +
      "start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used " +
      "for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
    );
  return null;
}

function validateLabels(labels: unknown, field: string, errs: Errs) {
  if (!labels || typeof labels !== 'object') return;
  for (const [k, v] of Object.entries(labels as Obj)) {
    const ke = qualifiedNameErrors(k);
    if (ke) errs.invalid(field, k, ke);
    if (typeof v !== 'string') errs.invalid(`${field}`, v, 'label values must be strings');
    else {
      const ve = labelValueErrors(v);
      if (ve) errs.invalid(field, v, ve);
    }
  }
}

export function validateMeta(kind: string, meta: Obj, namespaced: boolean, errs: Errs) {
  const name = meta.name;
  if (!name) {
    if (!meta.generateName)
      errs.add('metadata.name', 'FieldValueRequired', 'Required value: name or generateName is required');
  } else {
    const e = (NAME_RULE[kind] ?? dnsSubdomainErrors)(name);
    if (e) errs.invalid('metadata.name', name, e);
  }
  if (namespaced && !meta.namespace) errs.required('metadata.namespace');
  validateLabels(meta.labels, 'metadata.labels', errs);
  if (meta.annotations && typeof meta.annotations === 'object') {
    let size = 0;
    for (const [k, v] of Object.entries(meta.annotations as Obj)) {
      const ke = qualifiedNameErrors(k);
      if (ke) errs.invalid('metadata.annotations', k, ke);
      size += k.length + String(v).length;
    }
    if (size > 256 * 1024)
      errs.add('metadata.annotations', 'FieldValueTooLong', 'Too long: must have at most 262144 bytes');
  }
  for (const [i, f] of (meta.finalizers ?? []).entries()) {
    if (typeof f !== 'string' || qualifiedNameErrors(f))
      errs.invalid(`metadata.finalizers[${i}]`, f, 'must be a qualified name');
  }
}

const validIP = (v: unknown) => typeof v === 'string' && isIP(v) !== 0;

function validCidr(v: unknown): boolean {
  if (typeof v !== 'string') return false;
  const [ip, bits, extra] = v.split('/');
  const max = isIP(ip ?? '') === 4 ? 32 : isIP(ip ?? '') === 6 ? 128 : -1;
  return extra === undefined && /^\d{1,3}$/.test(bits ?? '') && Number(bits) <= max;
}

/** A list field: absent, or an array of objects (null items are not "unset" here). */
function objectList(v: unknown, field: string, errs: Errs, max = Number.POSITIVE_INFINITY): Obj[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) {
    errs.invalid(field, v, 'must be a list');
    return [];
  }
  if (v.length > max) errs.add(field, 'FieldValueTooMany', `Too many: ${v.length}: must have at most ${max} items`);
  return v.filter((x, i) => {
    const ok = typeof x === 'object' && x !== null && !Array.isArray(x);
    if (!ok) errs.invalid(`${field}[${i}]`, x, 'must be an object');
    return ok;
  });
}

/** Ports of an EndpointSlice or an Endpoints subset: number 1-65535, a known protocol, label names. */
function validateEndpointPorts(ports: unknown, field: string, errs: Errs) {
  const names = new Set<string>();
  objectList(ports, field, errs, 100).forEach((p, i) => {
    if (p.port !== undefined && p.port !== null && !validPort(p.port))
      errs.invalid(`${field}[${i}].port`, p.port, 'must be between 1 and 65535, inclusive');
    if (p.protocol !== undefined && p.protocol !== null && !['TCP', 'UDP', 'SCTP'].includes(p.protocol))
      errs.add(
        `${field}[${i}].protocol`,
        'FieldValueNotSupported',
        `Unsupported value: ${JSON.stringify(p.protocol)}: supported values: "SCTP", "TCP", "UDP"`,
      );
    if (p.name !== undefined && p.name !== null && p.name !== '') {
      const e = typeof p.name === 'string' ? dnsLabelErrors(p.name) : 'must be a string';
      if (e) errs.invalid(`${field}[${i}].name`, p.name, e);
      if (names.has(p.name)) errs.add(`${field}[${i}].name`, 'FieldValueDuplicate', `Duplicate value: "${p.name}"`);
      names.add(p.name);
    }
  });
}

function validateOptionalLabel(v: unknown, field: string, errs: Errs) {
  if (v === undefined || v === null) return;
  const e = typeof v === 'string' ? dnsLabelErrors(v) : 'must be a string';
  if (e) errs.invalid(field, v, e);
}

function validateContainers(
  list: Obj[] | undefined,
  field: string,
  volumes: Set<string>,
  errs: Errs,
  required: boolean,
) {
  if (!list || list.length === 0) {
    if (required) errs.required(field);
    return;
  }
  const names = new Set<string>();
  list.forEach((c, i) => {
    const f = `${field}[${i}]`;
    if (!c.name) errs.required(`${f}.name`);
    else {
      const e = dnsLabelErrors(c.name);
      if (e) errs.invalid(`${f}.name`, c.name, e);
      if (names.has(c.name)) errs.add(`${f}.name`, 'FieldValueDuplicate', `Duplicate value: "${c.name}"`);
      names.add(c.name);
    }
    if (!c.image || !String(c.image).trim()) errs.required(`${f}.image`);
    const pnames = new Set<string>();
    (c.ports ?? []).forEach((p: Obj, j: number) => {
      if (!validPort(p.containerPort))
        errs.invalid(`${f}.ports[${j}].containerPort`, p.containerPort, 'must be between 1 and 65535, inclusive');
      if (p.hostPort !== undefined && p.hostPort !== 0 && !validPort(p.hostPort))
        errs.invalid(`${f}.ports[${j}].hostPort`, p.hostPort, 'must be between 1 and 65535, inclusive');
      if (p.name) {
        if (p.name.length > 15 || !IANA_SVC_NAME.test(p.name))
          errs.invalid(
            `${f}.ports[${j}].name`,
            p.name,
            'must be no more than 15 characters and a lowercase IANA service name',
          );
        if (pnames.has(p.name))
          errs.add(`${f}.ports[${j}].name`, 'FieldValueDuplicate', `Duplicate value: "${p.name}"`);
        pnames.add(p.name);
      }
    });
    (c.env ?? []).forEach((e: Obj, j: number) => {
      if (!e.name) errs.required(`${f}.env[${j}].name`);
      else if (!C_IDENTIFIER_LIKE.test(e.name))
        errs.invalid(
          `${f}.env[${j}].name`,
          e.name,
          "a valid environment variable name must consist of alphabetic characters, digits, '_', '-', or " +
            "'.', and must not start with a digit",
        );
      if (e.value !== undefined && e.valueFrom !== undefined)
        errs.invalid(`${f}.env[${j}].valueFrom`, '', 'may not be specified when `value` is not empty');
    });
    const mounts = new Set<string>();
    (c.volumeMounts ?? []).forEach((m: Obj, j: number) => {
      if (!m.name) errs.required(`${f}.volumeMounts[${j}].name`);
      else if (!volumes.has(m.name))
        errs.add(`${f}.volumeMounts[${j}].name`, 'FieldValueNotSupported', `Not found: "${m.name}"`);
      if (!m.mountPath) errs.required(`${f}.volumeMounts[${j}].mountPath`);
      else if (mounts.has(m.mountPath))
        errs.invalid(`${f}.volumeMounts[${j}].mountPath`, m.mountPath, 'must be unique');
      mounts.add(m.mountPath);
    });
    for (const probe of ['livenessProbe', 'readinessProbe', 'startupProbe']) {
      const p = c[probe];
      if (!p) continue;
      const handlers = ['exec', 'httpGet', 'tcpSocket', 'grpc'].filter((h) => p[h]);
      if (handlers.length !== 1) errs.required(`${f}.${probe}`);
      if (probe !== 'readinessProbe' && p.successThreshold !== undefined && p.successThreshold !== 1)
        errs.invalid(`${f}.${probe}.successThreshold`, p.successThreshold, 'must be 1');
    }
  });
}

/** `extraVolumes`: names that become volumes later (a StatefulSet's volumeClaimTemplates). */
export function validatePodSpec(spec: Obj | undefined, field: string, errs: Errs, extraVolumes: string[] = []) {
  if (!spec) {
    errs.required(field);
    return;
  }
  const volumes = new Set<string>(extraVolumes);
  (spec.volumes ?? []).forEach((v: Obj, i: number) => {
    if (!v.name) errs.required(`${field}.volumes[${i}].name`);
    else {
      const e = dnsLabelErrors(v.name);
      if (e) errs.invalid(`${field}.volumes[${i}].name`, v.name, e);
      if (volumes.has(v.name))
        errs.add(`${field}.volumes[${i}].name`, 'FieldValueDuplicate', `Duplicate value: "${v.name}"`);
      volumes.add(v.name);
    }
    const sources = Object.keys(v).filter((k) => k !== 'name');
    if (sources.length > 1)
      errs.add(`${field}.volumes[${i}]`, 'FieldValueForbidden', 'Forbidden: may not specify more than 1 volume type');
  });
  validateContainers(spec.initContainers, `${field}.initContainers`, volumes, errs, false);
  validateContainers(spec.containers, `${field}.containers`, volumes, errs, true);
  if (spec.terminationGracePeriodSeconds !== undefined && spec.terminationGracePeriodSeconds < 0)
    errs.invalid(
      `${field}.terminationGracePeriodSeconds`,
      spec.terminationGracePeriodSeconds,
      'must be greater than or equal to 0',
    );
  if (spec.dnsPolicy === 'None' && !spec.dnsConfig?.nameservers?.length)
    errs.required(`${field}.dnsConfig.nameservers`);
  if (spec.hostname) {
    const e = dnsLabelErrors(spec.hostname);
    if (e) errs.invalid(`${field}.hostname`, spec.hostname, e);
  }
  if (spec.subdomain) {
    const e = dnsLabelErrors(spec.subdomain);
    if (e) errs.invalid(`${field}.subdomain`, spec.subdomain, e);
  }
  validateLabels(spec.nodeSelector, `${field}.nodeSelector`, errs);
}

function validateWorkload(o: Obj, errs: Errs, needsSelector: boolean) {
  const s = o.spec ?? {};
  if (s.replicas !== undefined && s.replicas < 0)
    errs.invalid('spec.replicas', s.replicas, 'must be greater than or equal to 0');
  if (needsSelector) {
    const sel = s.selector;
    if (!sel || (!Object.keys(sel.matchLabels ?? {}).length && !(sel.matchExpressions ?? []).length)) {
      errs.add('spec.selector', 'FieldValueRequired', 'Required value');
    } else {
      validateLabels(sel.matchLabels, 'spec.selector.matchLabels', errs);
      if (!matchesLabelSelector(sel, s.template?.metadata?.labels))
        errs.invalid(
          'spec.template.metadata.labels',
          s.template?.metadata?.labels ?? {},
          '`selector` does not match template `labels`',
        );
    }
  }
  if (!s.template) errs.required('spec.template');
  else
    validatePodSpec(
      s.template.spec,
      'spec.template.spec',
      errs,
      (s.volumeClaimTemplates ?? []).map((t: Obj) => t.metadata?.name).filter(Boolean),
    );
  if (s.template) validateLabels(s.template.metadata?.labels, 'spec.template.metadata.labels', errs);
}

const VALIDATORS: Record<string, (o: Obj, errs: Errs, old?: Obj) => void> = {
  Pod(o, errs, old) {
    validatePodSpec(o.spec, 'spec', errs);
    // A node writes its pods' status; the endpoint controllers copy these IPs into slices.
    for (const k of ['podIP', 'hostIP'])
      if (o.status?.[k] && !validIP(o.status[k]))
        errs.invalid(`status.${k}`, o.status[k], 'must be a valid IP address');
    objectList(o.status?.podIPs, 'status.podIPs', errs, 2).forEach((p, i) => {
      if (!validIP(p.ip)) errs.invalid(`status.podIPs[${i}].ip`, p.ip, 'must be a valid IP address');
    });
    if (old) {
      // Only a few pod spec fields may change after creation.
      const strip = (s: Obj) => {
        const c = structuredClone(s ?? {});
        for (const k of ['containers', 'initContainers']) for (const x of c[k] ?? []) delete x.image;
        delete c.activeDeadlineSeconds;
        delete c.tolerations;
        delete c.schedulingGates;
        if (!old.spec?.nodeName) delete c.nodeName;
        return JSON.stringify(c);
      };
      if (strip(o.spec) !== strip(old.spec))
        errs.add(
          'spec',
          'FieldValueForbidden',
          'Forbidden: pod updates may not change fields other than `spec.containers[*].image`,' +
            '`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to ' +
            'existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was ' +
            'previously negative)',
        );
    }
  },
  Service(o, errs, old) {
    const s = o.spec ?? {};
    const type = s.type;
    if (type === 'ExternalName') {
      if (!s.externalName) errs.required('spec.externalName');
      else {
        const e =
          dnsSubdomainErrors(String(s.externalName).replace(/\.$/, '')) ??
          (isDnsName(s.externalName) ? null : 'each label must be no more than 63 characters');
        if (e) errs.invalid('spec.externalName', s.externalName, e);
      }
    } else if (!(s.ports ?? []).length && s.clusterIP !== 'None') {
      errs.required('spec.ports');
    }
    const names = new Set<string>();
    const seen = new Set<string>();
    (s.ports ?? []).forEach((p: Obj, i: number) => {
      if (!validPort(p.port)) errs.invalid(`spec.ports[${i}].port`, p.port, 'must be between 1 and 65535, inclusive');
      if (s.ports.length > 1 && !p.name) errs.required(`spec.ports[${i}].name`);
      if (p.name) {
        const e = dnsLabelErrors(p.name);
        if (e) errs.invalid(`spec.ports[${i}].name`, p.name, e);
        if (names.has(p.name)) errs.add(`spec.ports[${i}].name`, 'FieldValueDuplicate', `Duplicate value: "${p.name}"`);
        names.add(p.name);
      }
      const key = `${p.port}/${p.protocol}`;
      if (seen.has(key))
        errs.add(
          `spec.ports[${i}]`,
          'FieldValueDuplicate',
          `Duplicate value: {"port":${p.port},"protocol":"${p.protocol}"}`,
        );
      seen.add(key);
      if (typeof p.targetPort === 'number' && !validPort(p.targetPort))
        errs.invalid(`spec.ports[${i}].targetPort`, p.targetPort, 'must be between 1 and 65535, inclusive');
      if (p.nodePort !== undefined && type !== 'NodePort' && type !== 'LoadBalancer' && p.nodePort !== 0)
        errs.add(
          `spec.ports[${i}].nodePort`,
          'FieldValueForbidden',
          "Forbidden: may not be used when `type` is 'ClusterIP'",
        );
    });
    if (s.clusterIP === 'None' && (type === 'NodePort' || type === 'LoadBalancer'))
      errs.invalid('spec.clusterIP', 'None', `may not be set to 'None' for ${type} services`);
    validateLabels(s.selector, 'spec.selector', errs);
    if (
      old?.spec?.clusterIP &&
      s.clusterIP !== undefined &&
      s.clusterIP !== old.spec.clusterIP &&
      old.spec.type !== 'ExternalName' &&
      type !== 'ExternalName'
    )
      errs.invalid('spec.clusterIPs[0]', s.clusterIP, 'field is immutable');
    (Array.isArray(s.externalIPs) ? s.externalIPs : []).forEach((ip: unknown, i: number) => {
      if (!validIP(ip)) errs.invalid(`spec.externalIPs[${i}]`, ip, 'must be a valid IP address');
    });
    (Array.isArray(s.loadBalancerSourceRanges) ? s.loadBalancerSourceRanges : []).forEach((r: unknown, i: number) => {
      if (!validCidr(typeof r === 'string' ? r.trim() : r))
        errs.invalid(`spec.loadBalancerSourceRanges[${i}]`, r, 'must be a valid CIDR');
    });
    const t = s.sessionAffinityConfig?.clientIP?.timeoutSeconds;
    if (t !== undefined && t !== null && !(Number.isInteger(t) && t >= 1 && t <= 86400))
      errs.invalid(
        'spec.sessionAffinityConfig.clientIP.timeoutSeconds',
        t,
        'must be greater than 0 and less than 86400',
      );
    objectList(o.status?.loadBalancer?.ingress, 'status.loadBalancer.ingress', errs, 100).forEach((g, i) => {
      if (g.ip !== undefined && !validIP(g.ip))
        errs.invalid(`status.loadBalancer.ingress[${i}].ip`, g.ip, 'must be a valid IP address');
    });
  },
  ConfigMap(o, errs) {
    for (const src of ['data', 'binaryData'])
      for (const k of Object.keys(o[src] ?? {})) {
        if (k.length > 253 || !CONFIG_KEY.test(k))
          errs.invalid(
            `${src}[${k}]`,
            k,
            "a valid config key must consist of alphanumeric characters, '-', '_' or '.'",
          );
      }
  },
  Secret(o, errs) {
    for (const [k, v] of Object.entries(o.data ?? {})) {
      if (k.length > 253 || !CONFIG_KEY.test(k))
        errs.invalid(`data[${k}]`, k, "a valid config key must consist of alphanumeric characters, '-', '_' or '.'");
      if (typeof v !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(v))
        errs.invalid(`data[${k}]`, '<value>', 'must be base64 encoded');
    }
  },
  Deployment(o, errs, old) {
    validateWorkload(o, errs, true);
    if (old && JSON.stringify(old.spec?.selector) !== JSON.stringify(o.spec?.selector))
      errs.invalid('spec.selector', o.spec?.selector, 'field is immutable');
  },
  ReplicaSet(o, errs) {
    validateWorkload(o, errs, true);
  },
  ReplicationController(o, errs) {
    validateWorkload(o, errs, false);
  },
  DaemonSet(o, errs) {
    validateWorkload(o, errs, true);
  },
  StatefulSet(o, errs) {
    validateWorkload(o, errs, true);
  },
  Job(o, errs) {
    const s = o.spec ?? {};
    if (!s.template) errs.required('spec.template');
    else validatePodSpec(s.template.spec, 'spec.template.spec', errs);
    const rp = s.template?.spec?.restartPolicy;
    if (rp && rp !== 'Never' && rp !== 'OnFailure')
      errs.add(
        'spec.template.spec.restartPolicy',
        'FieldValueNotSupported',
        `Unsupported value: "${rp}": supported values: "OnFailure", "Never"`,
      );
    for (const k of ['parallelism', 'completions', 'backoffLimit'])
      if (s[k] !== undefined && s[k] !== null && s[k] < 0)
        errs.invalid(`spec.${k}`, s[k], 'must be greater than or equal to 0');
  },
  CronJob(o, errs) {
    const s = o.spec ?? {};
    if (!s.schedule) errs.required('spec.schedule');
    else if (!validCron(s.schedule)) errs.invalid('spec.schedule', s.schedule, 'unparseable cron schedule');
    if (!s.jobTemplate) errs.required('spec.jobTemplate');
    else if (!s.jobTemplate.spec?.template) errs.required('spec.jobTemplate.spec.template');
    else validatePodSpec(s.jobTemplate.spec.template.spec, 'spec.jobTemplate.spec.template.spec', errs);
  },
  Ingress(o, errs) {
    (o.spec?.rules ?? []).forEach((r: Obj, i: number) => {
      (r.http?.paths ?? []).forEach((p: Obj, j: number) => {
        const f = `spec.rules[${i}].http.paths[${j}]`;
        if (!p.pathType) errs.required(`${f}.pathType`);
        if (p.pathType !== 'ImplementationSpecific' && p.path !== undefined && !String(p.path).startsWith('/'))
          errs.invalid(`${f}.path`, p.path, 'must be an absolute path');
        if (!p.backend?.service && !p.backend?.resource) errs.required(`${f}.backend`);
        if (p.backend?.service && !p.backend.service.port) errs.required(`${f}.backend.service.port`);
      });
    });
  },
  Namespace() {},
  EndpointSlice(o, errs) {
    const type = o.addressType;
    if (!['IPv4', 'IPv6', 'FQDN'].includes(type))
      errs.add(
        'addressType',
        type ? 'FieldValueNotSupported' : 'FieldValueRequired',
        type
          ? `Unsupported value: ${JSON.stringify(type)}: supported values: "FQDN", "IPv4", "IPv6"`
          : 'Required value',
      );
    objectList(o.endpoints, 'endpoints', errs, 1000).forEach((e, i) => {
      const f = `endpoints[${i}].addresses`;
      const addrs = Array.isArray(e.addresses) ? e.addresses : [];
      if (!addrs.length || addrs.length > 100) errs.invalid(f, e.addresses, 'must contain 1 to 100 addresses');
      addrs.forEach((a: unknown, j: number) => {
        const ok =
          type === 'FQDN'
            ? typeof a === 'string' && !dnsSubdomainErrors(a)
            : typeof a === 'string' && isIP(a) === (type === 'IPv6' ? 6 : 4);
        if (!ok) errs.invalid(`${f}[${j}]`, a, `must be a valid ${type ?? 'IPv4'} address`);
      });
      validateOptionalLabel(e.hostname, `endpoints[${i}].hostname`, errs);
      if (e.nodeName !== undefined && e.nodeName !== null) {
        const err = typeof e.nodeName === 'string' ? dnsSubdomainErrors(e.nodeName) : 'must be a string';
        if (err) errs.invalid(`endpoints[${i}].nodeName`, e.nodeName, err);
      }
    });
    validateEndpointPorts(o.ports, 'ports', errs);
  },
  Endpoints(o, errs) {
    objectList(o.subsets, 'subsets', errs).forEach((sub, i) => {
      // No count limit: Kubernetes has none here, and the endpoints controller writes big ones.
      for (const k of ['addresses', 'notReadyAddresses'])
        objectList(sub[k], `subsets[${i}].${k}`, errs).forEach((a, j) => {
          if (!validIP(a.ip)) errs.invalid(`subsets[${i}].${k}[${j}].ip`, a.ip, 'must be a valid IP address');
          validateOptionalLabel(a.hostname, `subsets[${i}].${k}[${j}].hostname`, errs);
        });
      validateEndpointPorts(sub.ports, `subsets[${i}].ports`, errs);
    });
  },
  Node(o, errs) {
    // The overlay and the proxy of every other node act on these: a node may write its own Node.
    const s = o.spec ?? {};
    if (s.podCIDR !== undefined && s.podCIDR !== null && s.podCIDR !== '' && !validCidr(s.podCIDR))
      errs.invalid('spec.podCIDR', s.podCIDR, 'must be a valid CIDR');
    for (const [i, c] of (Array.isArray(s.podCIDRs) ? s.podCIDRs : []).entries())
      if (!validCidr(c)) errs.invalid(`spec.podCIDRs[${i}]`, c, 'must be a valid CIDR');
    const ann = o.metadata?.annotations ?? {};
    const mac = ann['skiff.io/vtep-mac'];
    if (mac !== undefined && !isMacAddress(mac))
      errs.invalid("metadata.annotations['skiff.io/vtep-mac']", mac, 'must be a MAC address (six hex pairs)');
    const pub = ann['skiff.io/public-ip'];
    if (pub !== undefined && isIP(String(pub)) !== 4)
      errs.invalid("metadata.annotations['skiff.io/public-ip']", pub, 'must be an IPv4 address');
    objectList(o.status?.addresses, 'status.addresses', errs, 100).forEach((a, i) => {
      if ((a.type === 'InternalIP' || a.type === 'ExternalIP') && !validIP(a.address))
        errs.invalid(`status.addresses[${i}].address`, a.address, 'must be a valid IP address');
    });
  },
};

function validCron(s: string): boolean {
  const t = s.trim();
  if (/^@(yearly|annually|monthly|weekly|daily|midnight|hourly)$/.test(t)) return true;
  const parts = t.replace(/^(CRON_)?TZ=\S+\s+/, '').split(/\s+/);
  if (parts.length !== 5) return false;
  return parts.every((p) => /^[\d*?/,\-A-Za-z]+$/.test(p));
}

export function validateKind(kind: string, o: Obj, errs: Errs, old?: Obj) {
  VALIDATORS[kind]?.(o, errs, old);
}
