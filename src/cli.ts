#!/usr/bin/env -S node --max-semi-space-size=4 --heap-growing-percent=50
/**
 * `calico-bgpd` entry point. Each subcommand lives in `src/commands/` and
 * registers itself on the shared program; this file only wires global options.
 * The daemons' registrations (`*-command.ts`) load their daemon only when it
 * runs: the speaker never loads the BIRD renderer, confd never loads the
 * BGP speaker, and neither loads prom-client without a metrics port.
 *
 * Exit codes, the same for every command: 0 ok, 1 failure, 2 usage (an
 * unknown option or command, a bad option value).
 */
import { readFileSync } from 'node:fs';
import { Command, CommanderError, Option } from 'commander';
import { setLogFormat, setLogLevel } from './log.js';
import { registerConfd } from './commands/confd-command.js';
import { registerDecode } from './commands/decode-command.js';
import { registerHealth } from './commands/health.js';
import { registerModel } from './commands/model.js';
import { registerSpeaker } from './commands/speaker-command.js';
import { registerStatus } from './commands/status.js';

/** Exit status for bad usage (commander's own default would be 1). */
export const EXIT_USAGE = 2;

/** The version in package.json (dist/src/cli.js and src/cli.ts both find it). */
export function packageVersion(): string {
  for (const rel of ['../../package.json', '../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'calico-bgpd' && typeof pkg.version === 'string') return pkg.version;
    } catch {
      // try the next place
    }
  }
  return 'unknown';
}

export function buildProgram(): Command {
  const program = new Command();
  program
    .name('calico-bgpd')
    .description('BGP route distribution for Kubernetes networking (Calico-compatible)')
    .version(packageVersion())
    .addOption(new Option('--log-level <level>', 'log level (debug, info, warning, error, fatal, none); env BGP_LOGSEVERITYSCREEN'))
    .addOption(new Option('--log-format <format>', 'json or text (env CALICO_BGPD_LOG_FORMAT; default text on a terminal, json otherwise)'))
    .showHelpAfterError()
    // Usage errors (commander's and ours through cmd.error) exit 2; help and --version exit 0.
    .exitOverride((err: CommanderError) => process.exit(err.exitCode === 0 ? 0 : EXIT_USAGE))
    .hook('preAction', (cmd) => {
      const { logLevel, logFormat } = cmd.opts() as { logLevel?: string; logFormat?: string };
      if (logFormat !== undefined && !setLogFormat(logFormat)) cmd.error(`unknown log format '${logFormat}' (use json or text)`);
      if (logLevel !== undefined && !setLogLevel(logLevel)) {
        cmd.error(`unknown log level '${logLevel}' (use debug, info, warning, error, fatal or none)`);
      }
    });
  registerConfd(program);
  registerDecode(program);
  registerHealth(program);
  registerModel(program);
  registerSpeaker(program);
  registerStatus(program);
  return program;
}

try {
  await buildProgram().parseAsync(process.argv);
} catch (e) {
  // Anything a command did not handle: one plain line, then the exit status.
  process.stderr.write(`calico-bgpd: ${(e as Error).message ?? String(e)}\n`);
  process.exit(1);
}
