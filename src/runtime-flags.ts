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
 *
 * --heap-growing-percent=50: after a full collection V8 lets the old
 * generation grow by a factor it picks from its GC and allocation speeds,
 * up to 4x; a reflector taking a full table allocates fast and collects
 * fast, so it picked large factors, and at the peak most of the heap was
 * garbage promoted out of the small young generation (--trace-gc: 62.7 MB
 * used, 20.2 MB live after the collection). Fixed at 1.5x, a reflector
 * holding a million routes peaks at 133-134 MB instead of 165-167 MB
 * (bench:rr 10 x 100,000, two runs each), for about 6% more CPU (2.25 s
 * against 2.12 s); at 100,000 routes nothing changes.
 */
export const DAEMON_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=4', '--heap-growing-percent=50'];
