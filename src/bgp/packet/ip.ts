/**
 * Address text <-> wire forms, without allocation-heavy helpers: IPv4 as a
 * 32-bit unsigned number, IPv6 as four 32-bit words (big-endian word order).
 * Formatting of IPv6 follows RFC 5952 (lowercase, longest zero run
 * compressed, a single zero group never compressed).
 */

/** Dotted-quad text of a 32-bit address. */
export function ipv4ToString(addr: number): string {
  return `${addr >>> 24}.${(addr >>> 16) & 0xff}.${(addr >>> 8) & 0xff}.${addr & 0xff}`;
}

/** Parses dotted-quad text; returns undefined when it is not a valid IPv4 address. */
export function parseIpv4(text: string): number | undefined {
  // Hand-rolled: this runs for every NEXT_HOP encoded, so no split/regex.
  let value = 0;
  let octet = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 48 && c <= 57) {
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

/** RFC 5952 text of an IPv6 address held in four words starting at `words[at]`. */
export function ipv6ToString(words: ArrayLike<number>, at = 0): string {
  const groups: number[] = new Array(8);
  for (let i = 0; i < 4; i++) {
    const w = words[at + i]! >>> 0;
    groups[2 * i] = w >>> 16;
    groups[2 * i + 1] = w & 0xffff;
  }
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

/** Parses IPv6 text (with optional embedded IPv4 tail) into four words; undefined if invalid. */
export function parseIpv6(text: string): [number, number, number, number] | undefined {
  if (text.length === 0 || text.length > 45) return undefined;
  let groups: number[] = [];
  const parseGroups = (part: string): number[] | undefined => {
    if (part === '') return [];
    const out: number[] = [];
    const pieces = part.split(':');
    for (let i = 0; i < pieces.length; i++) {
      const piece = pieces[i]!;
      if (i === pieces.length - 1 && piece.includes('.')) {
        const v4 = parseIpv4(piece);
        if (v4 === undefined) return undefined;
        out.push(v4 >>> 16, v4 & 0xffff);
        continue;
      }
      if (!/^[0-9a-fA-F]{1,4}$/.test(piece)) return undefined;
      out.push(parseInt(piece, 16));
    }
    return out;
  };
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  if (halves.length === 2) {
    const head = parseGroups(halves[0]!);
    const tail = parseGroups(halves[1]!);
    if (head === undefined || tail === undefined || head.length + tail.length > 7) return undefined;
    groups = [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
  } else {
    const all = parseGroups(text);
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
