/**
 * The NAR hash of one regular file or symlink, computed straight from the file: the few
 * fixed NAR tokens around its contents (or target) hashed with it, without building the NAR.
 * It names the file's entry in `.links/` (nix32 sha256, as nix's optimiser names it).
 */
import { createHash } from 'node:crypto';
import { closeSync, openSync, readlinkSync, readSync } from 'node:fs';
import { encodeNix32 } from '../../format/base32.js';
import { encodeString, encodeU64, padding } from '../../format/wire.js';

export type LinkableKind = 'regular' | 'executable' | 'symlink';

const tokens = (...strings: string[]): Buffer => Buffer.concat(strings.map((t) => encodeString(t)));
const REGULAR_HEADER = tokens('nix-archive-1', '(', 'type', 'regular', 'contents');
const EXECUTABLE_HEADER = tokens('nix-archive-1', '(', 'type', 'regular', 'executable', '', 'contents');
const SYMLINK_HEADER = tokens('nix-archive-1', '(', 'type', 'symlink', 'target');
const TRAILER = tokens(')');

/**
 * nix32 sha256 of the NAR of `path`, whose size `lstat` told (a store file is never written
 * again); `buffer` is scratch space for reading.
 */
export function fileNarHash(path: string, kind: LinkableKind, size: number, buffer: Buffer): string {
  const hasher = createHash('sha256');
  if (kind === 'symlink') {
    hasher.update(SYMLINK_HEADER).update(encodeString(readlinkSync(path, { encoding: 'buffer' }))).update(TRAILER);
    return encodeNix32(hasher.digest());
  }
  const fd = openSync(path, 'r');
  try {
    hasher.update(kind === 'executable' ? EXECUTABLE_HEADER : REGULAR_HEADER).update(encodeU64(size));
    for (let done = 0; done < size; ) {
      const n = readSync(fd, buffer, 0, Math.min(buffer.length, size - done), done);
      if (n === 0) throw new Error(`file '${path}' became shorter while it was read`);
      hasher.update(buffer.subarray(0, n));
      done += n;
    }
  } finally {
    closeSync(fd);
  }
  const pad = padding(size);
  if (pad > 0) hasher.update(Buffer.alloc(pad));
  hasher.update(TRAILER);
  return encodeNix32(hasher.digest());
}
