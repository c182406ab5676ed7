/**
 * Streaming compression of binary-cache NARs: every codec round-trips data fed in small chunks,
 * Nix's xz NARs decompress to the NARs of the uncompressed cache, damaged streams are
 * `CorruptCompressedDataError`, and a large NAR passes through in bounded memory.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Hash, hashBytes } from '../../../src/format/hash.js';
import { compress, decompress, fileExtension, parseCompression, type Compression } from '../../../src/substituters/compression.js';
import { CorruptCompressedDataError, SubstituterError, UnsupportedCompressionError } from '../../../src/substituters/errors.js';
import { fixture } from '../../support/fixtures.js';

const CODECS: Compression[] = ['none', 'xz', 'zstd', 'bzip2', 'gzip', 'br'];

/** `bytes` in chunks of varying small sizes, as a network transport hands them over. */
async function* inChunks(bytes: Buffer, maxChunk = 8192): AsyncGenerator<Buffer> {
  let offset = 0;
  let size = 1;
  while (offset < bytes.length) {
    yield bytes.subarray(offset, offset + size);
    offset += size;
    size = (size * 7 + 13) % maxChunk || 1;
  }
}

async function collect(stream: AsyncIterable<Buffer>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk);
  return Buffer.concat(chunks);
}

async function compressed(compression: Compression, bytes: Buffer, level?: number): Promise<Buffer> {
  return collect(compress(compression, inChunks(bytes), level));
}

/** Half random, half repetitive text: both the incompressible and the usual case of a NAR. */
function sampleData(size: number): Buffer {
  const text = Buffer.from('#!/bin/sh\nexec /nix/store/00000000000000000000000000000000-hello/bin/hello "$@"\n'.repeat(size / 160));
  return Buffer.concat([randomBytes(size - text.length), text]);
}

function narinfoFields(text: string): Map<string, string> {
  return new Map(text.trim().split('\n').map((line) => [line.slice(0, line.indexOf(': ')), line.slice(line.indexOf(': ') + 2)]));
}

describe('substituters/compression', function () {
  this.timeout(20_000);

  describe('parseCompression', () => {
    it('accepts the names Nix writes in narinfos', () => {
      for (const name of CODECS) assert.equal(parseCompression(name, 'x.narinfo'), name);
    });

    it('rejects an unknown method, naming it and the narinfo', () => {
      assert.throws(
        () => parseCompression('rar', 'file:///cache/abc.narinfo'),
        (e: unknown) =>
          e instanceof UnsupportedCompressionError &&
          e instanceof SubstituterError &&
          e.message === "unknown compression method 'rar' in 'file:///cache/abc.narinfo'",
      );
    });

    it('says lzip and lz4 are Nix methods tsnix does not read', () => {
      for (const name of ['lzip', 'lz4']) {
        assert.throws(
          () => parseCompression(name, 'c.narinfo'),
          (e: unknown) => e instanceof UnsupportedCompressionError && e.message.includes(`'${name}' of 'c.narinfo' is not supported`) && !e.message.includes('\n'),
        );
      }
    });
  });

  it('names NAR files with the extensions Nix uses', () => {
    assert.deepEqual(
      CODECS.map((c) => fileExtension(c)),
      ['', '.xz', '.zst', '.bz2', '', '.br'],
    );
  });

  describe('round trip', () => {
    const data = sampleData(3 << 20);
    // xz preset 6 and brotli quality 11 write about 1 MB/s; the defaults are checked on less data below.
    const fastLevels: Partial<Record<Compression, number>> = { xz: 1, br: 5 };
    for (const compression of CODECS) {
      it(`${compression}: 3 MiB fed in small chunks come back identical`, async () => {
        const packed = await compressed(compression, data, fastLevels[compression]);
        const unpacked = await collect(decompress(compression, inChunks(packed, 4096), 'round-trip'));
        assert.equal(unpacked.length, data.length);
        assert.ok(unpacked.equals(data));
      });
    }

    const small = sampleData(256 << 10);
    for (const compression of CODECS) {
      it(`${compression}: the default level round-trips and shrinks repetitive data`, async () => {
        const text = Buffer.from('a line of a build log\n'.repeat(10_000));
        const packed = await compressed(compression, text);
        if (compression !== 'none') assert.ok(packed.length < text.length / 10, `${packed.length} bytes`);
        assert.ok((await collect(decompress(compression, inChunks(packed), 'defaults'))).equals(text));
        assert.ok((await collect(decompress(compression, inChunks(await compressed(compression, small)), 'defaults'))).equals(small));
      });
    }

    it('an empty input compresses to a stream that decompresses to nothing', async () => {
      for (const compression of CODECS) {
        const packed = await compressed(compression, Buffer.alloc(0));
        assert.equal((await collect(decompress(compression, inChunks(packed), 'empty'))).length, 0, compression);
      }
    });

    it('none: an empty input yields no chunk at all', async () => {
      const chunks: Buffer[] = [];
      for await (const chunk of decompress('none', inChunks(Buffer.alloc(0)), 'empty')) chunks.push(chunk);
      assert.deepEqual(chunks, []);
    });

    it('rejects a compression level outside the codec range', () => {
      assert.throws(() => compress('xz', inChunks(data), 10), UnsupportedCompressionError);
      assert.throws(() => compress('bzip2', inChunks(data), 0), UnsupportedCompressionError);
      assert.throws(() => compress('gzip', inChunks(data), 1.5), UnsupportedCompressionError);
    });
  });

  it("Nix's xz NARs decompress to the NARs of the uncompressed cache with the same store path", async () => {
    const xzCache = fixture('binary-cache/cache-xz');
    const plainCache = fixture('binary-cache/cache-none');
    const narinfos = readdirSync(xzCache).filter((name) => name.endsWith('.narinfo'));
    assert.equal(narinfos.length, 5);
    for (const name of narinfos) {
      const xzInfo = narinfoFields(readFileSync(join(xzCache, name), 'utf8'));
      const plainInfo = narinfoFields(readFileSync(join(plainCache, name), 'utf8'));
      assert.equal(xzInfo.get('StorePath'), plainInfo.get('StorePath'));
      assert.equal(parseCompression(xzInfo.get('Compression')!, name), 'xz');
      const nar = await collect(decompress('xz', inChunks(readFileSync(join(xzCache, xzInfo.get('URL')!)), 16), join(xzCache, xzInfo.get('URL')!)));
      assert.ok(nar.equals(readFileSync(join(plainCache, plainInfo.get('URL')!))), name);
      assert.equal(nar.length, Number(xzInfo.get('NarSize')));
      assert.ok(hashBytes('sha256', nar).equals(Hash.parse(xzInfo.get('NarHash')!)));
    }
  });

  describe('damaged streams', () => {
    const data = sampleData(200 << 10);

    async function assertCorrupt(compression: Compression, damaged: Buffer): Promise<void> {
      await assert.rejects(collect(decompress(compression, inChunks(damaged), 'file:///cache/nar/x.nar')), (e: unknown) => {
        assert.ok(e instanceof CorruptCompressedDataError, String(e));
        assert.ok(e instanceof SubstituterError);
        assert.ok(e.message.includes("'file:///cache/nar/x.nar'") && e.message.includes(compression), e.message);
        assert.ok(!e.message.includes('\n'), e.message);
        return true;
      });
    }

    for (const compression of ['xz', 'zstd', 'bzip2', 'gzip', 'br'] as const) {
      it(`${compression}: a truncated stream is an error, not a short NAR`, async () => {
        const packed = await compressed(compression, data, compression === 'xz' ? 1 : undefined);
        await assertCorrupt(compression, packed.subarray(0, Math.floor(packed.length * 0.6)));
        // Only the end of the stream missing: every block decodes, the end marker is absent.
        await assertCorrupt(compression, packed.subarray(0, packed.length - 4));
      });

      it(`${compression}: bytes that are not ${compression} are an error`, async () => {
        await assertCorrupt(compression, Buffer.from('<html><body>404 Not Found</body></html>\n'.repeat(20)));
      });
    }

    it("bzip2: the error says what bzip2 said, on one line", async () => {
      const packed = await compressed('bzip2', data);
      await assert.rejects(
        collect(decompress('bzip2', inChunks(packed.subarray(0, packed.length - 4)), 'x.nar.bz2')),
        (e: unknown) => e instanceof CorruptCompressedDataError && e.message.includes(': Compressed file ends unexpectedly (the file is truncated or corrupt)'),
      );
    });

    it('xz: a flipped byte in the middle fails the check', async () => {
      const packed = Buffer.from(await compressed('xz', data, 1));
      packed[packed.length >> 1] ^= 0x55;
      await assertCorrupt('xz', packed);
    });
  });

  describe('streaming', () => {
    for (const compression of ['xz', 'bzip2', 'none'] as const) {
      it(`${compression}: an error of the input itself passes through unchanged`, async () => {
        const packed = await compressed(compression, sampleData(64 << 10));
        const transportError = new Error('connection reset by peer');
        async function* failing(): AsyncGenerator<Buffer> {
          yield packed.subarray(0, 1000);
          throw transportError;
        }
        await assert.rejects(collect(decompress(compression, failing(), 'x')), (e: unknown) => e === transportError);
      });

      it(`${compression}: a consumer that stops early stops the reading of the input`, async () => {
        const packed = await compressed(compression, sampleData(4 << 20), compression === 'xz' ? 0 : 1);
        let read = 0;
        let closed = false;
        async function* source(): AsyncGenerator<Buffer> {
          try {
            for (let offset = 0; offset < packed.length; offset += 4096) {
              read += 4096;
              yield packed.subarray(offset, offset + 4096);
            }
          } finally {
            closed = true;
          }
        }
        for await (const chunk of decompress(compression, source(), 'x')) {
          assert.ok(chunk.length > 0);
          break;
        }
        await new Promise((resolve) => setTimeout(resolve, 50));
        assert.ok(closed, 'the input was closed');
        assert.ok(read < packed.length / 2, `read ${read} of ${packed.length} bytes for one output chunk`);
      });
    }

    it('xz: 256 MiB of NAR (sixteen concatenated streams) decompress with rss growing < 200 MiB', async function () {
      this.timeout(10_000);
      const stream = await compressed('xz', Buffer.alloc(16 << 20), 0);
      async function* sixteenTimes(): AsyncGenerator<Buffer> {
        for (let i = 0; i < 16; i++) yield* inChunks(stream, 65536);
      }
      const before = process.memoryUsage().rss;
      let peak = before;
      let total = 0;
      let chunks = 0;
      for await (const chunk of decompress('xz', sixteenTimes(), 'zeros.nar.xz')) {
        total += chunk.length;
        if (++chunks % 64 === 0) peak = Math.max(peak, process.memoryUsage().rss);
      }
      peak = Math.max(peak, process.memoryUsage().rss);
      assert.equal(total, 256 << 20);
      assert.ok(peak - before < 200 << 20, `rss grew by ${Math.round((peak - before) / 2 ** 20)} MiB`);
    });
  });
});
