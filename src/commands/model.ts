/**
 * `calico-bgpd model`: what the daemon believes about this node. Opens the
 * configured datastore once, waits for it to be in sync, builds the peering
 * model and prints it (a table for people, `--json` for scripts), with every
 * problem found in the data. Passwords are shown as `***` unless
 * `--show-passwords` is given.
 *
 * Exit codes: 0 model printed (even with problems), 1 datastore unavailable,
 * 2 bad usage or configuration.
 */
import type { Command } from 'commander';
import { createDatastore, datastoreConfig, type DatastoreConfig } from '../datastore/config.js';
import { formatProblem, type Problem } from '../datastore/resources/problem.js';
import type { Datastore } from '../datastore/types.js';
import { waitInSync } from '../datastore/in-sync.js';
import { buildNodeBgpConfig, nodeInKeyView } from '../model/build.js';
import type { FamilyConfig, NodeBgpConfig, Peer } from '../model/types.js';

export interface ModelCommandOptions {
  json?: boolean;
  node?: string;
  datastoreFile?: string[];
  datastoreType?: string;
  routerId?: string;
  showPasswords?: boolean;
  timeout?: string;
}

/** JSON document printed by `model --json` (stable for scripts). */
export interface ModelJson {
  datastore: { type: string; files?: string[]; status: string };
  model: NodeBgpConfig;
  problems: Problem[];
}

function redact(cfg: NodeBgpConfig): NodeBgpConfig {
  const fam = (f: FamilyConfig): FamilyConfig => ({
    ...f,
    peers: f.peers.map((p) => (p.password === null ? p : { ...p, password: '***' })),
  });
  return { ...cfg, ipv4: fam(cfg.ipv4), ipv6: fam(cfg.ipv6) };
}

// ---------------------------------------------------------------------------
// Text form
// ---------------------------------------------------------------------------

function table(rows: string[][]): string[] {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd());
}

function peerFlags(p: Peer): string {
  const f: string[] = [];
  if (p.passive) f.push('passive');
  if (p.routeReflectorClient) f.push(`rr-client(cluster ${p.routeReflectorClusterId})`);
  if (p.nextHop !== 'auto') f.push(`next-hop-${p.nextHop}`);
  if (p.password !== null) f.push('password');
  if (p.gracefulRestartTime !== null) f.push(`restart ${p.gracefulRestartTime}s`);
  if (p.ttlSecurity > 0) f.push(`ttl-security ${p.ttlSecurity}`);
  if (p.numAllowLocalAs > 0) f.push(`allow-local-as ${p.numAllowLocalAs}`);
  if (p.reachableBy !== null) f.push(`via ${p.reachableBy}`);
  if (p.sourceAddress === null) f.push('no-source-address');
  return f.join(' ');
}

/** Human-readable rendering of a model. */
export function formatModelText(cfg: NodeBgpConfig, problems: readonly Problem[], header: string): string {
  const out: string[] = [header, ''];
  const ridHow = { 'node-ipv4': 'node IPv4 address', env: 'CALICO_ROUTER_ID', hash: 'hash of the node name', none: 'none' }[cfg.routerIdSource];
  out.push(`Node ${cfg.nodeName}`);
  out.push(`  router id     ${cfg.routerId || '(none)'} (${ridHow})`);
  out.push(`  AS            ${cfg.asNumber}`);
  out.push(`  listen port   ${cfg.listenPort ?? 179}${cfg.bindMode === 'NodeIP' ? ' (node address only)' : ''}`);
  out.push(`  mesh          ${cfg.routeReflectorClusterId !== null ? `ignored: this node is a route reflector (cluster ${cfg.routeReflectorClusterId})` : cfg.meshEnabled ? 'on' : 'off'}`);
  out.push(`  BIRD log      ${cfg.logLevel}`);
  for (const [label, fam] of [
    ['IPv4', cfg.ipv4],
    ['IPv6', cfg.ipv6],
  ] as const) {
    out.push('');
    if (fam.address === null) {
      out.push(`${label}: disabled on this node (no ${label} address)`);
      continue;
    }
    out.push(`${label}: address ${fam.address}${fam.network ? ` (subnet ${fam.network})` : ''}`);
    if (fam.peers.length === 0) out.push('  no peers');
    else {
      const rows = [['  PEER', 'ADDRESS', 'PORT', 'AS', 'FLAGS']];
      for (const p of fam.peers) rows.push([`  ${p.name}`, p.address, String(p.port ?? 179), String(p.asNumber), peerFlags(p)]);
      out.push(...table(rows));
    }
    for (const s of fam.skipped) out.push(`  skipped ${s.address}: ${s.reason === 'self' ? 'this node' : 'route reflector (not meshed)'}`);
    for (const p of fam.pools) {
      const enc = p.vxlanMode !== 'never' ? `vxlan ${p.vxlanMode}` : p.ipipMode !== 'never' ? `ipip ${p.ipipMode}` : 'no encapsulation';
      out.push(`  pool    ${p.cidr}  ${enc}${p.natOutgoing ? ', nat-outgoing' : ''}${p.disabled ? ', disabled' : ''}${p.disableBGPExport ? ', not exported' : ''}`);
    }
    for (const b of fam.blocks) out.push(`  block   ${b.cidr}  ${b.state || 'confirmed (implicit)'}${b.confirmed ? '' : ', not exported'}`);
    for (const r of fam.staticRoutes) out.push(`  static  ${r}${fam.rejectCidrs.includes(r) ? ' (not programmed into the kernel)' : ''}`);
    for (const r of fam.rejectCidrs) if (!fam.staticRoutes.includes(r)) out.push(`  reject  ${r}`);
    for (const c of fam.communities) out.push(`  communities ${c.cidr}: ${[...c.communities, ...c.largeCommunities].join(' ') || '(none)'}`);
  }
  out.push('');
  if (problems.length === 0) out.push('No problems in the datastore.');
  else {
    out.push(`Problems (${problems.length}; these entries were skipped):`);
    for (const p of problems) out.push(`  ${formatProblem(p)}`);
  }
  return out.join('\n') + '\n';
}

// ---------------------------------------------------------------------------
// Command
// ---------------------------------------------------------------------------

/** Runs the command; returns the exit code. Output goes to `write`. */
export async function runModel(opts: ModelCommandOptions, env: NodeJS.ProcessEnv, write: (s: string) => void): Promise<number> {
  let config: DatastoreConfig;
  try {
    config = datastoreConfig(env, {
      ...(opts.datastoreType !== undefined ? { datastoreType: opts.datastoreType } : {}),
      ...(opts.datastoreFile !== undefined && opts.datastoreFile.length > 0 ? { datastoreFile: opts.datastoreFile } : {}),
      ...(opts.node !== undefined ? { nodeName: opts.node } : {}),
      ...(opts.routerId !== undefined ? { routerId: opts.routerId } : {}),
    });
  } catch (e) {
    process.stderr.write(`calico-bgpd model: ${(e as Error).message}\n`);
    return 2;
  }
  const timeoutMs = opts.timeout !== undefined ? Number(opts.timeout) * 1000 : 10_000;
  let ds: Datastore;
  try {
    ds = await createDatastore(config, { watch: false });
  } catch (e) {
    process.stderr.write(`calico-bgpd model: ${(e as Error).message}\n`);
    return 2;
  }
  try {
    await ds.start();
    if (!(await waitInSync(ds, timeoutMs))) throw new Error(`datastore not in sync after ${timeoutMs} ms`);
    const keys = ds.snapshot();
    const built = buildNodeBgpConfig(keys, config.nodeName, config.routerId !== undefined ? { routerId: config.routerId } : {});
    const dsProblems = (ds as { problems?: () => readonly Problem[] }).problems?.() ?? [];
    const problems = [...dsProblems, ...built.problems];
    if (!nodeInKeyView(keys, config.nodeName)) {
      problems.push({ resource: `Node/${config.nodeName}`, message: 'this node is not in the datastore (set NODENAME or --node)' });
    }
    const model = opts.showPasswords ? built.config : redact(built.config);
    if (opts.json) {
      const doc: ModelJson = {
        datastore: { type: config.type, ...(config.type === 'file' ? { files: config.files } : {}), status: ds.status() },
        model,
        problems,
      };
      write(JSON.stringify(doc, null, 2) + '\n');
    } else {
      const src = config.type === 'file' ? `file ${config.files.join(', ')}` : config.type;
      write(formatModelText(model, problems, `Datastore: ${src} (${ds.status()})`));
    }
    return 0;
  } catch (e) {
    process.stderr.write(`calico-bgpd model: ${(e as Error).message}\n`);
    return 1;
  } finally {
    await ds.stop();
  }
}

export function registerModel(program: Command): void {
  program
    .command('model')
    .description("print the peering model for this node: router id, AS, peers, pools, blocks, service routes (what the daemon believes)")
    .option('--json', 'machine-readable output (stable)', false)
    .option('--node <name>', 'node to build the model for (env NODENAME; default: host name)')
    .option('--datastore-file <path...>', 'file backend: YAML file(s) or directories (env CALICO_DATASTORE_FILE)')
    .option('--datastore-type <type>', 'etcdv3, kubernetes or file (env DATASTORE_TYPE)')
    .option('--router-id <id>', 'router id: dotted quad or "hash" (env CALICO_ROUTER_ID)')
    .option('--show-passwords', 'print BGP passwords instead of ***', false)
    .option('--timeout <seconds>', 'how long to wait for the datastore to be in sync', '10')
    .action(async (opts: ModelCommandOptions) => {
      process.exitCode = await runModel(opts, process.env, (s) => process.stdout.write(s));
    });
}
