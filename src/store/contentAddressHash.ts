/**
 * The hash a path's content address speaks of, computed from the content itself: the NAR
 * (recursive; for sha256 the NAR hash already in hand) or the file's own bytes (flat, text).
 * A path taken without a signature because of its content address must have it.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { parseContentAddress } from '../format/contentAddress.js';
import { Hash } from '../format/hash.js';
import { dumpPath } from './nar/index.js';

/** `{ expected, actual }` when the content at `contentPath` does not have the address `ca`. */
export async function contentAddressMismatch(ca: string, contentPath: string, narHash: Hash): Promise<{ expected: Hash; actual: Hash } | undefined> {
  const address = parseContentAddress(ca);
  let actual: Hash;
  if (address.method === 'recursive' && address.hash.algo === 'sha256') {
    actual = narHash;
  } else if (address.method === 'recursive') {
    const hasher = createHash(address.hash.algo);
    for await (const chunk of dumpPath(contentPath)) hasher.update(chunk);
    actual = new Hash(address.hash.algo, hasher.digest());
  } else {
    const hasher = createHash(address.hash.algo);
    for await (const chunk of createReadStream(contentPath)) hasher.update(chunk as Buffer);
    actual = new Hash(address.hash.algo, hasher.digest());
  }
  return actual.equals(address.hash) ? undefined : { expected: address.hash, actual };
}
