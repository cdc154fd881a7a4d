/**
 * The one IP address parser and formatter of the project.
 *
 * Numeric forms, chosen so hot paths allocate little: IPv4 is a 32-bit
 * unsigned number, IPv6 is four 32-bit words (most significant first).
 *
 * Parsing is strict, the way Node's `net.isIP` and Go's `net.ParseIP`
 * (since Go 1.17, which Calico is built with) are: an IPv4 octet with a
 * leading zero (`010.1.1.1`) is rejected rather than read as decimal or
 * octal, and zone ids (`fe80::1%eth0`) are not addresses.
 *
 * IPv6 text follows RFC 5952: lower-case hex, leading zeros dropped, the
 * longest run of two or more zero groups (the first on a tie) written `::`.
 * RFC 5952 section 5 recommends the mixed notation for IPv4-mapped
 * addresses, so `::ffff:1.2.3.4` stays that (BIRD and Go's `netip.Addr`
 * print it the same way) instead of `::ffff:102:304`. Whether such an
 * address *is* an IPv4 address is a datastore question, answered in
 * `cidr.ts` the way Go's `net.IP` answers it.
 */

/** Dotted-quad text of a 32-bit address. */
export function ipv4ToString(addr: number): string {
  return `${addr >>> 24}.${(addr >>> 16) & 0xff}.${(addr >>> 8) & 0xff}.${addr & 0xff}`;
}

/**
 * Parses dotted-quad text in `text[start, end)`; undefined when it is not a
 * valid IPv4 address. Hand-rolled (no split/regex): this runs for every
 * NEXT_HOP encoded and every prefix the kernel is given.
 */
export function parseIpv4(text: string, start = 0, end = text.length): number | undefined {
  let value = 0;
  let octet = 0;
  let digits = 0;
  let dots = 0;
  for (let i = start; i < end; i++) {
    const c = text.charCodeAt(i);
    if (c >= 48 && c <= 57) {
      // "A leading zero is not allowed" (Go net.ParseIP, Node net.isIPv4).
      if (digits === 1 && octet === 0) return undefined;
      octet = octet * 10 + (c - 48);
      if (++digits > 3 || octet > 255) return undefined;
    } else if (c === 46 && digits > 0 && dots < 3) {
      value = value * 256 + octet;
      octet = 0;
      digits = 0;
      dots++;
    } else {
      return undefined;
    }
  }
  if (dots !== 3 || digits === 0) return undefined;
  return (value * 256 + octet) >>> 0;
}

/** True when the four words at `words[at]` are an IPv4-mapped address (::ffff:0:0/96). */
export function isIpv4Mapped(words: ArrayLike<number>, at = 0): boolean {
  return words[at] === 0 && words[at + 1] === 0 && words[at + 2]! >>> 0 === 0xffff;
}

/** RFC 5952 text of an IPv6 address held in four words starting at `words[at]`. */
export function ipv6ToString(words: ArrayLike<number>, at = 0): string {
  if (isIpv4Mapped(words, at)) return `::ffff:${ipv4ToString(words[at + 3]! >>> 0)}`;
  const groups: number[] = new Array(8);
  for (let i = 0; i < 4; i++) {
    const w = words[at + i]! >>> 0;
    groups[2 * i] = w >>> 16;
    groups[2 * i + 1] = w & 0xffff;
  }
  return formatGroups(groups);
}

/** RFC 5952 text of eight 16-bit groups (no mixed notation). */
export function formatGroups(groups: readonly number[]): string {
  // Longest run of zero groups, length >= 2, first one on ties.
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (bestStart < 0) return groups.map((g) => g.toString(16)).join(':');
  const head = groups.slice(0, bestStart).map((g) => g.toString(16)).join(':');
  const tail = groups.slice(bestStart + bestLen).map((g) => g.toString(16)).join(':');
  return `${head}::${tail}`;
}

/** RFC 5952 text of a 16-byte IPv6 address in `buf` at `offset`. */
export function ipv6BytesToString(buf: Buffer, offset: number): string {
  return ipv6ToString(
    [buf.readUInt32BE(offset), buf.readUInt32BE(offset + 4), buf.readUInt32BE(offset + 8), buf.readUInt32BE(offset + 12)],
    0,
  );
}

const HEX_GROUP = /^[0-9a-fA-F]{1,4}$/;

/**
 * Parses colon-separated groups; a dotted-quad is allowed only as the very
 * last piece of the whole address (`dottedTailAllowed`), where it stands for
 * the low 32 bits (RFC 4291 2.2, form 3).
 */
function parseGroups(part: string, dottedTailAllowed: boolean): number[] | undefined {
  if (part === '') return [];
  const out: number[] = [];
  const pieces = part.split(':');
  for (let i = 0; i < pieces.length; i++) {
    const piece = pieces[i]!;
    if (dottedTailAllowed && i === pieces.length - 1 && piece.includes('.')) {
      const v4 = parseIpv4(piece);
      if (v4 === undefined) return undefined;
      out.push(v4 >>> 16, v4 & 0xffff);
      continue;
    }
    if (!HEX_GROUP.test(piece)) return undefined;
    out.push(parseInt(piece, 16));
  }
  return out;
}

/** Parses IPv6 text (with optional embedded IPv4 tail) into four words; undefined if invalid. */
export function parseIpv6(text: string): [number, number, number, number] | undefined {
  if (text.length < 2 || text.length > 45) return undefined;
  let groups: number[];
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  if (halves.length === 2) {
    const head = parseGroups(halves[0]!, false);
    const tail = parseGroups(halves[1]!, true);
    if (head === undefined || tail === undefined || head.length + tail.length > 7) return undefined;
    groups = [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
  } else {
    const all = parseGroups(text, true);
    if (all === undefined || all.length !== 8) return undefined;
    groups = all;
  }
  return [
    ((groups[0]! << 16) | groups[1]!) >>> 0,
    ((groups[2]! << 16) | groups[3]!) >>> 0,
    ((groups[4]! << 16) | groups[5]!) >>> 0,
    ((groups[6]! << 16) | groups[7]!) >>> 0,
  ];
}

/** Writes IPv6 text as 16 bytes; throws RangeError on invalid text. */
export function writeIpv6(text: string, buf: Buffer, offset: number): number {
  const words = parseIpv6(text);
  if (words === undefined) throw new RangeError(`invalid IPv6 address '${text}'`);
  for (let i = 0; i < 4; i++) buf.writeUInt32BE(words[i]!, offset + 4 * i);
  return offset + 16;
}

/** Writes dotted-quad text as 4 bytes; throws RangeError on invalid text. */
export function writeIpv4(text: string, buf: Buffer, offset: number): number {
  const v = parseIpv4(text);
  if (v === undefined) throw new RangeError(`invalid IPv4 address '${text}'`);
  buf.writeUInt32BE(v, offset);
  return offset + 4;
}

/**
 * `word` with only its first `bits` bits kept (bits <= 0 clears it, >= 32
 * keeps it): masks one 32-bit word of a prefix whose length is counted from
 * that word's first bit.
 */
export function maskWord(word: number, bits: number): number {
  if (bits <= 0) return 0;
  if (bits >= 32) return word >>> 0;
  return (word & (0xffffffff << (32 - bits))) >>> 0;
}

/**
 * Parses a prefix length in `text[start, end)`: decimal digits only, no
 * leading zero (`/032` is refused, as `010.1.1.1` is), not above `max`.
 * Undefined when invalid.
 */
export function parsePrefixLength(text: string, start: number, end: number, max: number): number | undefined {
  const digits = end - start;
  if (digits < 1 || digits > 3) return undefined;
  if (digits > 1 && text.charCodeAt(start) === 48) return undefined;
  let len = 0;
  for (let i = start; i < end; i++) {
    const c = text.charCodeAt(i) - 48;
    if (c < 0 || c > 9) return undefined;
    len = len * 10 + c;
  }
  return len <= max ? len : undefined;
}
