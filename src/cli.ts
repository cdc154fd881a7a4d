#!/usr/bin/env -S node --max-semi-space-size=4
/**
 * `calico-bgpd` entry point. Each subcommand lives in `src/commands/` and
 * registers itself on the shared program; this file only wires global options.
 */
import { Command, Option } from 'commander';
import { setLogLevel } from './log.js';
import { registerConfd } from './commands/confd.js';
import { registerDecode } from './commands/decode.js';
import { registerHealth } from './commands/health.js';
import { registerModel } from './commands/model.js';
import { registerSpeaker } from './commands/speaker.js';
import { registerStatus } from './commands/status.js';

export function buildProgram(): Command {
  const program = new Command();
  program
    .name('calico-bgpd')
    .description('BGP route distribution for Kubernetes networking (Calico-compatible)')
    .version('0.1.0')
    .addOption(new Option('--log-level <level>', 'log level (debug, info, warning, error, fatal, none); env BGP_LOGSEVERITYSCREEN'))
    .showHelpAfterError()
    .hook('preAction', (cmd) => {
      const level = cmd.opts().logLevel as string | undefined;
      if (level !== undefined && !setLogLevel(level)) {
        cmd.error(`unknown log level '${level}' (use debug, info, warning, error, fatal or none)`);
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

await buildProgram().parseAsync(process.argv);
