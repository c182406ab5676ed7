import assert from 'node:assert/strict';
import { BadHashError } from '../../../src/format/errors.js';
import { rewriteHashes, rewriteHashesInBuffer } from '../../../src/format/hashRewrite.js';

const REAL = 'dzlyqx2ian7g7d3q7c82f62y9gabffbn';
const TEMP = 'mxzxqjhhdimzlhlil55ba8gp6zrgcbhz';
const OTHER = '8awlk6rgzynhczrf7mwqjfk93zbcldl6';
const OTHER_TEMP = '0c4dwm5m7a1jhwbvqfw6pmkxfzd3bqpi';

async function* inPieces(bytes: Buffer, size: number): AsyncGenerator<Buffer> {
  for (let at = 0; at < bytes.length; at += size) yield bytes.subarray(at, at + size);
}

async function collect(source: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of source) parts.push(Buffer.from(chunk));
  return Buffer.concat(parts);
}

describe('hash rewriting', () => {
  it('replaces every occurrence of each hash part and leaves the rest alone', () => {
    const input = Buffer.from(`#!/bin/sh\nexec /nix/store/${TEMP}-tool/bin/x /nix/store/${OTHER_TEMP}-lib "${TEMP}" /nix/store/${OTHER}-kept\n`);
    const output = rewriteHashesInBuffer(input, new Map([[TEMP, REAL], [OTHER_TEMP, OTHER]]));
    assert.equal(output.toString(), `#!/bin/sh\nexec /nix/store/${REAL}-tool/bin/x /nix/store/${OTHER}-lib "${REAL}" /nix/store/${OTHER}-kept\n`);
    assert.ok(input.toString().includes(TEMP), 'the input is not changed');
  });

  it('rewrites hash parts that touch each other or sit inside a longer run of nix32 characters', () => {
    const input = Buffer.from(`abc${TEMP}${TEMP}xyz\x00${TEMP}`);
    assert.equal(rewriteHashesInBuffer(input, new Map([[TEMP, REAL]])).toString(), `abc${REAL}${REAL}xyz\x00${REAL}`);
  });

  it('rewrites in one pass: a replacement is not rewritten again, so a swap swaps', () => {
    const input = Buffer.from(`${REAL} ${TEMP}`);
    assert.equal(rewriteHashesInBuffer(input, new Map([[REAL, TEMP], [TEMP, REAL]])).toString(), `${TEMP} ${REAL}`);
  });

  it('leaves a hash part with one character changed', () => {
    const near = `${TEMP.slice(0, 31)}0`;
    assert.equal(rewriteHashesInBuffer(Buffer.from(near), new Map([[TEMP, REAL]])).toString(), near);
  });

  it('rewrites occurrences split across chunk boundaries, whatever the chunk size', async () => {
    const input = Buffer.concat([Buffer.from([0, 1, 2]), Buffer.from(`/nix/store/${TEMP}-a ${TEMP}${OTHER_TEMP}`), Buffer.alloc(40, 0xff), Buffer.from(TEMP)]);
    const rewrites = new Map([[TEMP, REAL], [OTHER_TEMP, OTHER]]);
    const expected = Buffer.concat([Buffer.from([0, 1, 2]), Buffer.from(`/nix/store/${REAL}-a ${REAL}${OTHER}`), Buffer.alloc(40, 0xff), Buffer.from(REAL)]);
    for (const size of [1, 2, 7, 31, 32, 33, 64, input.length]) {
      assert.deepEqual(await collect(rewriteHashes(inPieces(input, size), rewrites)), expected, `pieces of ${size}`);
    }
    assert.ok(input.includes(Buffer.from(TEMP)) && !input.includes(Buffer.from(REAL)), 'the input chunks are not changed');
  });

  it('streams: output starts before the input ends and no output chunk exceeds its input chunk by more than 31 bytes', async () => {
    const chunkSize = 64 * 1024;
    const chunks = 64;
    let pulled = 0;
    async function* source(): AsyncGenerator<Buffer> {
      for (let i = 0; i < chunks; i++) {
        pulled++;
        // Each chunk ends with the first half of a hash part and the next starts with the rest.
        const chunk = Buffer.alloc(chunkSize, 0x2e);
        Buffer.from(TEMP.slice(16)).copy(chunk, 0);
        Buffer.from(TEMP.slice(0, 16)).copy(chunk, chunkSize - 16);
        yield chunk;
      }
    }
    let total = 0;
    let first = true;
    let occurrences = 0;
    let carried = '';
    for await (const out of rewriteHashes(source(), new Map([[TEMP, REAL]]))) {
      if (first) assert.ok(pulled <= 2, `first output after ${pulled} input chunks`);
      first = false;
      assert.ok(out.length <= chunkSize + 31, `output chunk of ${out.length} bytes`);
      const text = carried + Buffer.from(out).toString('latin1');
      occurrences += text.split(REAL).length - 1;
      assert.ok(!text.includes(TEMP));
      carried = text.slice(-31);
      total += out.length;
    }
    assert.equal(total, chunkSize * chunks);
    assert.equal(occurrences, chunks - 1);
  });

  it('passes the stream through unchanged when nothing is to be rewritten', async () => {
    const input = Buffer.from(`x ${TEMP} y`);
    assert.deepEqual(await collect(rewriteHashes(inPieces(input, 5), new Map([[TEMP, TEMP]]))), input);
    assert.deepEqual(await collect(rewriteHashes(inPieces(input, 5), new Map())), input);
  });

  it('refuses keys or values that are not store path hash parts, naming them', () => {
    assert.throws(() => rewriteHashesInBuffer(Buffer.alloc(1), new Map([[`/nix/store/${TEMP}-x`, `/nix/store/${REAL}-x`]])), (err: Error) => {
      assert.ok(err instanceof BadHashError);
      assert.match(err.message, /invalid hash part '\/nix\/store\/mxz.*-x' in a hash rewrite/);
      return true;
    });
    assert.throws(() => rewriteHashesInBuffer(Buffer.alloc(1), new Map([[TEMP, REAL.slice(1)]])), /invalid replacement/);
    assert.throws(() => rewriteHashesInBuffer(Buffer.alloc(1), new Map([[TEMP, `${REAL.slice(1)}e`]])), /invalid replacement/);
  });
});
