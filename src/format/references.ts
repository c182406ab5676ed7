/**
 * Reference scanning: which candidate store paths' hash parts occur in a byte stream
 * (a path's NAR). Works across chunk boundaries, so the NAR can be streamed.
 */
import { NIX32_ALPHABET } from './base32.js';
import { HASH_PART_LENGTH } from './storePath.js';

const IS_NIX32 = new Uint8Array(256);
for (const c of NIX32_ALPHABET) IS_NIX32[c.charCodeAt(0)] = 1;

export class ReferenceScanner {
  private readonly pending: Set<string>;
  private readonly found = new Set<string>();
  /** The last HASH_PART_LENGTH-1 bytes of the previous chunk, so a hash split across chunks is seen. */
  private tail: Buffer = Buffer.alloc(0);

  constructor(hashParts: Iterable<string>) {
    this.pending = new Set(hashParts);
  }

  update(chunk: Uint8Array): void {
    if (this.pending.size === 0 || chunk.length === 0) return;
    const data = this.tail.length > 0 ? Buffer.concat([this.tail, chunk]) : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length);
    this.scan(data);
    const keep = Math.min(HASH_PART_LENGTH - 1, data.length);
    this.tail = Buffer.from(data.subarray(data.length - keep));
  }

  /**
   * Checks each window of 32 bytes from its end backwards; a byte outside the nix32 alphabet
   * at offset j rules out every window that contains it, so the search jumps past it. On
   * binary data this looks at a small fraction of the bytes.
   */
  private scan(data: Buffer): void {
    const n = data.length;
    let i = 0;
    while (i + HASH_PART_LENGTH <= n) {
      let j = HASH_PART_LENGTH - 1;
      while (j >= 0 && IS_NIX32[data[i + j]!]) j--;
      if (j >= 0) {
        i += j + 1;
        continue;
      }
      const candidate = data.toString('latin1', i, i + HASH_PART_LENGTH);
      if (this.pending.delete(candidate)) {
        this.found.add(candidate);
        if (this.pending.size === 0) return;
      }
      i++;
    }
  }

  /** The hash parts seen so far. */
  result(): Set<string> {
    return this.found;
  }
}
