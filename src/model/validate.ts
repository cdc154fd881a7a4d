/**
 * Strings that end up in a BIRD configuration file or a socket option.
 *
 * BIRD reads a string as `"` up to the next `"` on the same line, with no
 * escapes, so a value holding a double quote, a line break or a NUL cannot be
 * written at all (the renderer refuses it rather than let the rest of the
 * value become configuration). The kernel takes a TCP-MD5 key of at most 80
 * bytes. Such a value is caught here, in the model, so that it costs only its
 * own object: the peer (or interface, or pool) is named in the problems and
 * left out, everything else is configured.
 */

/** Why `value` cannot go into a BIRD string, or null when it can. */
export function birdStringProblem(value: string): string | null {
  if (value.includes('"')) return 'contains a double quote';
  if (/[\r\n]/.test(value)) return 'contains a line break';
  if (value.includes('\0')) return 'contains a NUL character';
  return null;
}

/** The kernel's TCP_MD5SIG_MAXKEYLEN. */
export const MD5_MAX_KEY_BYTES = 80;

/** Why `password` cannot be a BGP session password in both modes, or null. */
export function passwordProblem(password: string): string | null {
  const s = birdStringProblem(password);
  if (s !== null) return `the password ${s}, which BIRD cannot express`;
  if (Buffer.byteLength(password) > MD5_MAX_KEY_BYTES) return `the password is longer than ${MD5_MAX_KEY_BYTES} bytes (the kernel's TCP-MD5 key limit)`;
  return null;
}

/** Why `name` cannot be an interface name in a BIRD file, or null. */
export function interfaceNameProblem(name: string): string | null {
  const s = birdStringProblem(name);
  return s === null ? null : `interface name ${JSON.stringify(name)} ${s}`;
}
