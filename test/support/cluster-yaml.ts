/**
 * The small file-datastore clusters the command tests start speakers on,
 * built from one set of documents instead of a YAML copy per test file.
 */

/** The BGPConfiguration `default`: AS 64512, the mesh on or off, our listen port, and any extra spec text. */
export function bgpConfiguration(port: number, mesh: boolean, extraSpec = ''): string {
  return `apiVersion: projectcalico.org/v3
kind: BGPConfiguration
metadata: { name: default }
spec: { asNumber: 64512, nodeToNodeMeshEnabled: ${mesh}, listenPort: ${port}${extraSpec === '' ? '' : `, ${extraSpec}`} }
`;
}

/** A v3 Node with its BGP IPv4 address (/8). */
export function node(name: string, ipv4: string): string {
  return `apiVersion: projectcalico.org/v3
kind: Node
metadata: { name: ${name} }
spec: { bgp: { ipv4Address: ${ipv4}/8 } }
`;
}

/** The IP pool 198.51.100.0/24 with /26 blocks. */
export const POOL = `apiVersion: projectcalico.org/v3
kind: IPPool
metadata: { name: pool }
spec: { cidr: 198.51.100.0/24, blockSize: 26 }
`;

/** A confirmed block affinity, named `<node>-a`. */
export function block(nodeName: string, cidr: string): string {
  return `apiVersion: crd.projectcalico.org/v1
kind: BlockAffinity
metadata: { name: ${nodeName}-a }
spec: { node: ${nodeName}, cidr: ${cidr}, state: confirmed, deleted: "false" }
`;
}

/** YAML documents joined into one file. */
export function yamlDocs(...docs: string[]): string {
  return docs.join('---\n');
}

/** Two meshed nodes n1 and n2 in the pool, each with one block (198.51.100.0/26 and .64/26). */
export function meshedPair(port: number, n1: string, n2: string): string {
  return yamlDocs(bgpConfiguration(port, true), node('n1', n1), node('n2', n2), POOL, block('n1', '198.51.100.0/26'), block('n2', '198.51.100.64/26'));
}

/** The namespace labs' BGPConfiguration: AS 64512, mesh on, the default port (no trailing newline: labs join documents themselves). */
export const LAB_MESH_CONFIG = `apiVersion: projectcalico.org/v3
kind: BGPConfiguration
metadata: { name: default }
spec: { asNumber: 64512, nodeToNodeMeshEnabled: true }`;

/** The namespace labs' pool 198.51.100.0/24, no IP-in-IP or VXLAN (the lab hosts share one segment). */
export function labPool(blockSize = 26): string {
  return `apiVersion: projectcalico.org/v3
kind: IPPool
metadata: { name: pool }
spec: { cidr: 198.51.100.0/24, blockSize: ${blockSize}, ipipMode: Never, vxlanMode: Never }`;
}
