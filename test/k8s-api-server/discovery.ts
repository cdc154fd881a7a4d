/**
 * The resource types the local API server serves and the discovery
 * documents a client (kubectl, client-go) reads before it asks for them:
 * `/api` (APIVersions), `/apis` (APIGroupList), `/api/v1` and
 * `/apis/GROUP/VERSION` (APIResourceList), `/version`.
 *
 * Only the legacy (unaggregated) discovery format is served: a client that
 * asks for aggregated discovery gets the plain JSON documents with
 * `Content-Type: application/json` and falls back, as it does with an
 * older real server.
 */

/** One resource type: the collections the Kubernetes datastore reads. */
export interface ResourceType {
  group: string;
  version: string;
  plural: string;
  singular: string;
  kind: string;
  namespaced: boolean;
  shortNames?: string[];
}

export const RESOURCE_TYPES: readonly ResourceType[] = [
  { group: '', version: 'v1', plural: 'nodes', singular: 'node', kind: 'Node', namespaced: false, shortNames: ['no'] },
  { group: '', version: 'v1', plural: 'services', singular: 'service', kind: 'Service', namespaced: true, shortNames: ['svc'] },
  { group: '', version: 'v1', plural: 'endpoints', singular: 'endpoints', kind: 'Endpoints', namespaced: true, shortNames: ['ep'] },
  { group: '', version: 'v1', plural: 'secrets', singular: 'secret', kind: 'Secret', namespaced: true },
  ...(
    [
      ['bgpconfigurations', 'bgpconfiguration', 'BGPConfiguration'],
      ['bgppeers', 'bgppeer', 'BGPPeer'],
      ['ippools', 'ippool', 'IPPool'],
      ['blockaffinities', 'blockaffinity', 'BlockAffinity'],
    ] as const
  ).map(([plural, singular, kind]) => ({ group: 'crd.projectcalico.org', version: 'v1', plural, singular, kind, namespaced: false })),
];

const VERBS = ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'];

/** The type a collection path names ("api/v1/nodes", "apis/crd.projectcalico.org/v1/ippools"). */
export function resourceType(group: string, version: string, plural: string): ResourceType | undefined {
  return RESOURCE_TYPES.find((t) => t.group === group && t.version === version && t.plural === plural);
}

/** The discovery document for a path, or undefined when the path is not a discovery path. */
export function discoveryDocument(path: string): unknown {
  const p = path.replace(/\/+$/, '');
  if (p === '/openapi/v3' || p.startsWith('/openapi/v3/')) return openApiV3(p);
  if (p === '/version') {
    return { major: '1', minor: '32', gitVersion: 'v1.32.0-calico-bgpd-test', platform: 'linux/amd64' };
  }
  if (p === '/api') {
    return { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: '127.0.0.1' }] };
  }
  if (p === '/apis') {
    const groups = [...new Set(RESOURCE_TYPES.filter((t) => t.group !== '').map((t) => `${t.group}/${t.version}`))].map((gv) => {
      const [name, version] = gv.split('/') as [string, string];
      const v = { groupVersion: gv, version };
      return { name, versions: [v], preferredVersion: v };
    });
    return { kind: 'APIGroupList', apiVersion: 'v1', groups };
  }
  const m = /^\/(?:api\/(v1)|apis\/([^/]+)\/([^/]+))$/.exec(p);
  if (!m) return undefined;
  const group = m[1] !== undefined ? '' : m[2]!;
  const version = m[1] ?? m[3]!;
  const types = RESOURCE_TYPES.filter((t) => t.group === group && t.version === version);
  if (types.length === 0) return undefined;
  return {
    kind: 'APIResourceList',
    apiVersion: 'v1',
    groupVersion: group === '' ? version : `${group}/${version}`,
    resources: types.map((t) => ({
      name: t.plural,
      singularName: t.singular,
      namespaced: t.namespaced,
      kind: t.kind,
      verbs: VERBS,
      ...(t.shortNames ? { shortNames: t.shortNames } : {}),
    })),
  };
}

/**
 * OpenAPI v3, as much as kubectl reads: one schema per type that declares
 * the object free-form (`x-kubernetes-preserve-unknown-fields`), i.e. this
 * server validates nothing and says so, as a CRD without a structural
 * schema would; and per object path a PATCH operation that lists the
 * `fieldValidation` parameter, which is how kubectl decides to leave
 * validation to the server (the server accepts the parameter and, as said,
 * validates nothing). /openapi/v2 is not served.
 */
function openApiV3(p: string): unknown {
  const gvs = [...new Set(RESOURCE_TYPES.map((t) => (t.group === '' ? `api/${t.version}` : `apis/${t.group}/${t.version}`)))];
  if (p === '/openapi/v3') {
    return { paths: Object.fromEntries(gvs.map((gv) => [gv, { serverRelativeURL: `/openapi/v3/${gv}` }])) };
  }
  const gv = p.slice('/openapi/v3/'.length);
  if (!gvs.includes(gv)) return undefined;
  const types = RESOURCE_TYPES.filter((t) => (t.group === '' ? `api/${t.version}` : `apis/${t.group}/${t.version}`) === gv);
  const schemas = Object.fromEntries(
    types.map((t) => [
      `${t.group === '' ? 'io.k8s.api.core' : t.group}.${t.version}.${t.kind}`,
      {
        type: 'object',
        'x-kubernetes-preserve-unknown-fields': true,
        'x-kubernetes-group-version-kind': [{ group: t.group, version: t.version, kind: t.kind }],
      },
    ]),
  );
  const paths = Object.fromEntries(
    types.map((t) => {
      const ns = t.namespaced ? 'namespaces/{namespace}/' : '';
      const gvk = [{ group: t.group, version: t.version, kind: t.kind }];
      const patch = {
        'x-kubernetes-group-version-kind': gvk[0],
        parameters: [{ name: 'fieldValidation', in: 'query', schema: { type: 'string' } }],
        responses: { '200': { description: 'OK' } },
      };
      return [`/${gv}/${ns}${t.plural}/{name}`, { patch }];
    }),
  );
  return { openapi: '3.0.0', info: { title: 'calico-bgpd test API server', version: 'v1.32.0' }, paths, components: { schemas } };
}
