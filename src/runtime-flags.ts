/**
 * Node.js flags the daemons run with. `calico-bgpd` starts Node with them
 * (the shebang of src/cli.ts), `npm start` passes them, and the benchmarks
 * start our daemons with them, so what is measured is what operators run;
 * test/commands/runtime-flags.test.ts keeps the three in step.
 *
 * --max-semi-space-size=4: V8 grows its young generation up to 3 x 16 MB
 * under allocation bursts (a full table arriving, a thousand sessions coming
 * up) and keeps it, which on a node shows up as ~30 MB of resident memory
 * that holds no data. Capped at 4 MB, a 1,000-session speaker stays at
 * ~78 MB instead of ~111 MB and a reflector holding 300,000 routes at
 * ~122 MB instead of ~141 MB, with no measurable change in convergence time
 * (bench:sessions, bench:rr).
 */
export const DAEMON_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=4'];
