/**
 * Strict field checking for Kubernetes objects, which the OpenAPI schemas
 * (and so kubernetes-models' validation) do not do: every key of an object
 * must be a field of its type, as the API server's `fieldValidation=Strict`
 * demands. The field lists come from @kubernetes/client-node's generated
 * models (`getAttributeTypeMap()`), which are generated from the same
 * OpenAPI document.
 */
import * as k8s from '@kubernetes/client-node';

interface Attribute {
  baseName: string;
  type: string;
}
type Model = { getAttributeTypeMap(): Attribute[] };

/** Types whose values are free-form or scalar: nothing below them to check. */
function isLeaf(type: string): boolean {
  return !/^V\d/.test(type) && !type.startsWith('Array<V') && !type.startsWith('Core');
}

/** The model class of a type name such as `V1DaemonSet`. */
function model(type: string): Model | undefined {
  const m = (k8s as unknown as Record<string, unknown>)[type] as Partial<Model> | undefined;
  return typeof m?.getAttributeTypeMap === 'function' ? (m as Model) : undefined;
}

/** Paths of the keys in `value` that are not fields of `type` (e.g. `spec.template.spec.containers[0].imagePullPolcy`). */
export function unknownFields(value: unknown, type: string, path = ''): string[] {
  if (isLeaf(type) || value === null || value === undefined) return [];
  const list = /^Array<(.+)>$/.exec(type);
  if (list) {
    if (!Array.isArray(value)) return [`${path}: expected a list`];
    return value.flatMap((v, i) => unknownFields(v, list[1]!, `${path}[${i}]`));
  }
  const m = model(type);
  if (!m) return [`${path}: no model for ${type}`];
  if (typeof value !== 'object' || Array.isArray(value)) return [`${path}: expected an object (${type})`];
  const attrs = new Map(m.getAttributeTypeMap().map((a) => [a.baseName, a.type]));
  return Object.entries(value as Record<string, unknown>).flatMap(([key, v]) => {
    const at = path === '' ? key : `${path}.${key}`;
    const t = attrs.get(key);
    return t === undefined ? [at] : unknownFields(v, t, at);
  });
}

/** client-node's type name of an object: `apps/v1` DaemonSet -> V1DaemonSet. */
export function modelName(apiVersion: string, kind: string): string {
  const version = apiVersion.split('/').pop()!;
  return `${version[0]!.toUpperCase()}${version.slice(1)}${kind}`;
}
