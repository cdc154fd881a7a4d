/**
 * Raised inside one attribute's decoder and caught by the attribute loop,
 * which turns it into an RFC 7606 action for that attribute. Deliberately
 * not an Error subclass: it never escapes the codec and needs no stack trace.
 */
export class AttrMalformed {
  constructor(
    readonly reason: string,
    /** The attribute length itself is wrong (RFC 4271 "Attribute Length Error"). */
    readonly isLength = false,
  ) {}
}
