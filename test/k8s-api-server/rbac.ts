/**
 * RBAC for the local API server: the rules of a ClusterRole (bound cluster
 * wide) and Roles (bound in their namespace), the way the real authorizer
 * reads them for one identity: a request is allowed when some rule names
 * its verb, API group and resource (no wildcards are honoured: the
 * project's roles must not use them, and a `*` here matches nothing).
 *
 * Every grant (verb × group × resource × scope) is counted when it allows
 * a request, so a test can ask which grants were never needed (excess
 * permission) as well as which requests were refused (missing permission).
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';

/** What the authorizer sees of one request. */
export interface RequestAttributes {
  verb: 'get' | 'list' | 'watch' | 'create' | 'update' | 'patch' | 'delete';
  /** "" for the core group. */
  group: string;
  /** Plural resource name, e.g. "nodes". */
  resource: string;
  /** undefined: cluster scope (or all namespaces). */
  namespace: string | undefined;
}

interface Rule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
}

/** One thing a role allows, e.g. "list  /nodes  (cluster)". */
export interface Grant {
  verb: string;
  group: string;
  resource: string;
  /** "cluster" for a ClusterRole, else the Role's namespace. */
  scope: string;
}

export function grantName(g: Grant): string {
  return `${g.verb} ${g.group === '' ? 'core' : g.group}/${g.resource} (${g.scope === 'cluster' ? 'cluster-wide' : `namespace ${g.scope}`})`;
}

export class RbacPolicy {
  private readonly grants: Grant[] = [];
  private readonly used = new Set<string>();

  /**
   * @param roles ClusterRole and Role documents (as parsed YAML).
   * @param roleNamespace the namespace the Roles are bound in.
   */
  constructor(roles: readonly unknown[], roleNamespace: string) {
    for (const doc of roles) {
      const role = doc as { kind?: string; rules?: Rule[] };
      if (role.kind !== 'ClusterRole' && role.kind !== 'Role') continue;
      const scope = role.kind === 'ClusterRole' ? 'cluster' : roleNamespace;
      for (const rule of role.rules ?? []) {
        for (const verb of rule.verbs) {
          for (const group of rule.apiGroups) {
            for (const resource of rule.resources) this.grants.push({ verb, group, resource, scope });
          }
        }
      }
    }
  }

  /** Every grant of the roles, in file order. */
  all(): readonly Grant[] {
    return this.grants;
  }

  /** Whether a request is allowed; counts the grant that allowed it. */
  authorize(a: RequestAttributes): boolean {
    const grant = this.grants.find(
      (g) =>
        g.verb === a.verb &&
        g.group === a.group &&
        g.resource === a.resource &&
        // A ClusterRole covers every namespace; a Role only its own, and
        // never a cluster-scoped or all-namespaces request.
        (g.scope === 'cluster' || (a.namespace !== undefined && g.scope === a.namespace)),
    );
    if (grant) this.used.add(grantName(grant));
    return grant !== undefined;
  }

  /** Grants no request has needed so far. */
  unused(): Grant[] {
    return this.grants.filter((g) => !this.used.has(grantName(g)));
  }
}

/** deploy/kubernetes/rbac/rbac.yaml, found from this file (test/ or dist/test/). */
export function shippedRbacPath(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const candidate = join(dir, 'deploy', 'kubernetes', 'rbac', 'rbac.yaml');
    try {
      readFileSync(candidate);
      return candidate;
    } catch {
      dir = dirname(dir);
    }
  }
  throw new Error('deploy/kubernetes/rbac/rbac.yaml not found above ' + fileURLToPath(import.meta.url));
}

/** The roles calico-bgpd ships, with the Role bound in `roleNamespace`. */
export function shippedRbac(roleNamespace: string, edit?: (docs: unknown[]) => unknown[]): RbacPolicy {
  const docs = parseAllDocuments(readFileSync(shippedRbacPath(), 'utf8')).map((d) => d.toJS() as unknown);
  return new RbacPolicy(edit ? edit(docs) : docs, roleNamespace);
}
