/** Entry names as the NAR grammar allows them: what is a valid name and how names sort. */

/** Why `name` cannot be a NAR entry name, or undefined when it can. */
export function invalidNameReason(name: Uint8Array): string | undefined {
  if (name.length === 0) return 'is empty';
  if (name.length === 1 && name[0] === 0x2e) return "is '.'";
  if (name.length === 2 && name[0] === 0x2e && name[1] === 0x2e) return "is '..'";
  if (name.includes(0x2f)) return "contains '/'";
  if (name.includes(0)) return 'contains a NUL byte';
  return undefined;
}

/** Byte-wise (memcmp) order, the only order NAR directories use. */
export function compareNames(a: Uint8Array, b: Uint8Array): number {
  return Buffer.compare(a, b);
}

/**
 * A name for a one-line message: decoded as UTF-8 and quoted with JSON escapes, so that a
 * newline or control byte in a hostile name cannot break the line.
 */
export function showName(name: Uint8Array): string {
  return JSON.stringify(Buffer.from(name.buffer, name.byteOffset, name.length).toString('utf8'));
}
