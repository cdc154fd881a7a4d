/**
 * `calico-bgpd decode`: its options. The BGP codec loads only when the
 * command runs (the daemons' start-up does not pay for it).
 */
import type { Command } from 'commander';
import type { CodecContext } from '../bgp/packet/index.js';
import type { DecodeOptions } from './decode.js';

export function registerDecode(program: Command): void {
  program
    .command('decode')
    .description('decode raw BGP messages (concatenated, each starting with the 0xff marker) into JSON lines')
    .argument('[file]', 'file of raw messages, or - for stdin (default)')
    .option('--hex <hex>', 'decode one message given as hexadecimal')
    .option('--add-path <afi/safi...>', 'families whose NLRI carry ADD-PATH path identifiers (1/1 IPv4, 2/1 IPv6)', [])
    .option('--two-octet-as', 'the sender is a 2-octet AS speaker (AS_PATH with 2-octet ASes, AS4_PATH merged)', false)
    .option('--extended-message', 'accept messages up to 65535 octets (RFC 8654)', false)
    .action(async (fileArg: string | undefined, opts: DecodeOptions & { hex?: string }) => {
      const { contextFromOptions, decodeStream, readInput, splitFileFromFamilies } = await import('./decode.js');
      let ctx: CodecContext;
      let input: Buffer;
      try {
        const { addPath, file } = splitFileFromFamilies(opts.addPath, fileArg);
        ctx = contextFromOptions({ ...opts, addPath });
        input = readInput(file, opts.hex);
      } catch (e) {
        process.stderr.write(`calico-bgpd decode: ${(e as Error).message}\n`);
        process.exitCode = 2;
        return;
      }
      const { lines, malformed } = decodeStream(input, ctx);
      if (lines.length > 0) process.stdout.write(lines.join('\n') + '\n');
      if (malformed) process.exitCode = 1;
    });
}
