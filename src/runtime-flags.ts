/**
 * Node.js flags the daemons run with. `calico-bgpd` starts Node with them
 * (the shebang of src/cli.ts), `npm start` passes them, and the benchmarks
 * start our daemons with them, so what is measured is what operators run;
 * test/commands/runtime-flags.test.ts keeps the three in step.
 *
 * --max-semi-space-size=4: V8 grows its young generation up to 3 x 16 MB
 * under allocation bursts (a full table arriving, a thousand sessions coming
 * up) and keeps it, which on a node shows up as ~30 MB of resident memory
 * that holds no data, some runs and not others. Capped at 4 MB, a
 * 1,000-session speaker stays at 76-82 MB (uncapped: 77 or 111 MB) and a
 * reflector holding 100,000 routes at ~90 MB instead of ~112 MB, with no
 * measurable change in convergence time (bench:rr). The price is more
 * frequent young-generation collections: about one point more of a core
 * in the 1,000-session steady state (bench:sessions, 5.2-5.8% -> 6.5-7.1%;
 * BIRD 2 uses 20-22%). Predictable memory on every node is worth that.
 */
export const DAEMON_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=4'];
