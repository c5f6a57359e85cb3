// Discovery documents: legacy (/api, /apis, /api/v1, /apis/G/V) and aggregated (apidiscovery.k8s.io/v2).
import { groups, groupVersion, type Resource } from './resources.ts';

const VERBS = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];

/** Subresources: what each answers with and which verbs it takes. */
function subresourceInfo(r: Resource, sub: string): { kind: string; group: string; version: string; verbs: string[] } {
  switch (sub) {
    case 'status':
      return { kind: r.kind, group: r.group, version: r.version, verbs: ['get', 'patch', 'update'] };
    case 'scale':
      return { kind: 'Scale', group: 'autoscaling', version: 'v1', verbs: ['get', 'patch', 'update'] };
    case 'binding':
      return { kind: 'Binding', group: '', version: 'v1', verbs: ['create'] };
    case 'eviction':
      return { kind: 'Eviction', group: 'policy', version: 'v1', verbs: ['create'] };
    case 'log':
      return { kind: 'Pod', group: '', version: 'v1', verbs: ['get'] };
    case 'exec':
    case 'attach':
    case 'portforward':
      return { kind: 'PodExecOptions', group: '', version: 'v1', verbs: ['create', 'get'] };
    case 'finalize':
      return { kind: r.kind, group: r.group, version: r.version, verbs: ['update'] };
    default:
      return { kind: r.kind, group: r.group, version: r.version, verbs: ['get'] };
  }
}

export function apiVersions(serverAddress: string) {
  return {
    kind: 'APIVersions',
    versions: ['v1'],
    serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress }],
  };
}

export function apiGroupList() {
  return {
    kind: 'APIGroupList',
    apiVersion: 'v1',
    groups: groups()
      .filter((g) => g.group)
      .map((g) => {
        const gv = { groupVersion: `${g.group}/${g.version}`, version: g.version };
        return { name: g.group, versions: [gv], preferredVersion: gv };
      }),
  };
}

export function apiResourceList(group: string, version: string) {
  const g = groups().find((x) => x.group === group && x.version === version);
  if (!g) return null;
  const resources: Record<string, unknown>[] = [];
  for (const r of g.resources) {
    resources.push({
      name: r.plural,
      singularName: r.singular,
      namespaced: r.namespaced,
      kind: r.kind,
      verbs: VERBS,
      ...(r.shortNames.length ? { shortNames: r.shortNames } : {}),
      ...(r.categories.length ? { categories: r.categories } : {}),
      storageVersionHash: Buffer.from(`${groupVersion(r)}/${r.kind}`)
        .toString('base64')
        .slice(0, 11),
    });
    for (const sub of r.subresources) {
      const info = subresourceInfo(r, sub);
      resources.push({
        name: `${r.plural}/${sub}`,
        singularName: '',
        namespaced: r.namespaced,
        kind: info.kind,
        verbs: info.verbs,
        ...(info.group !== r.group || info.version !== r.version ? { group: info.group, version: info.version } : {}),
      });
    }
  }
  return {
    kind: 'APIResourceList',
    apiVersion: 'v1',
    groupVersion: group ? `${group}/${version}` : version,
    resources,
  };
}

function discoveryGroup(group: string, version: string, resources: Resource[]) {
  return {
    metadata: group ? { name: group } : {},
    versions: [
      {
        version,
        freshness: 'Current',
        resources: resources.map((r) => ({
          resource: r.plural,
          responseKind: { group: r.group, version: r.version, kind: r.kind },
          scope: r.namespaced ? 'Namespaced' : 'Cluster',
          singularResource: r.singular,
          verbs: VERBS,
          ...(r.shortNames.length ? { shortNames: r.shortNames } : {}),
          ...(r.categories.length ? { categories: r.categories } : {}),
          subresources: r.subresources.map((s) => {
            const info = subresourceInfo(r, s);
            return {
              subresource: s,
              responseKind: { group: info.group, version: info.version, kind: info.kind },
              verbs: info.verbs,
            };
          }),
        })),
      },
    ],
  };
}

export const AGGREGATED_TYPE = 'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList';

export function aggregatedDiscovery(legacy: boolean) {
  const items = groups()
    .filter((g) => (legacy ? !g.group : !!g.group))
    .map((g) => discoveryGroup(g.group, g.version, g.resources));
  return { kind: 'APIGroupDiscoveryList', apiVersion: 'apidiscovery.k8s.io/v2', metadata: {}, items };
}
