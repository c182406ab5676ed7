/**
 * The compression of NARs in binary caches (a narinfo's `Compression:`), as streams: a multi-GB
 * NAR passes through in bounded memory, read from its source only as fast as the consumer takes it.
 */
import { spawn } from 'node:child_process';
import { pipeline, Readable, type Transform } from 'node:stream';
import zlib from 'node:zlib';

// Loaded when first used: together they cost ~60 ms at start, which a command that fetches
// nothing compressed (every build without substituters) must not pay.
const loadLzma = async () => (await import('lzma-native')).default;
const loadZstd = async () => await import('zstd-napi');
import { CorruptCompressedDataError, SubstituterError, UnsupportedCompressionError } from './errors.js';

/** The compression methods tsnix reads and writes, by Nix's names (`br` is brotli). */
export type Compression = 'none' | 'xz' | 'zstd' | 'bzip2' | 'gzip' | 'br';

const SUPPORTED: readonly Compression[] = ['none', 'xz', 'zstd', 'bzip2', 'gzip', 'br'];

/** Methods Nix can write (through libarchive) that tsnix has no codec for. */
const NOT_SUPPORTED = new Set(['lzip', 'lz4']);

/** Output chunks of the zlib codecs: larger than zlib's 16 KiB so a big NAR is fewer, cheaper chunks. */
const ZLIB_CHUNK = 64 * 1024;

/** The method named `name`, as read from `source` (a narinfo, a store URL parameter). */
export function parseCompression(name: string, source: string): Compression {
  if ((SUPPORTED as readonly string[]).includes(name)) return name as Compression;
  if (NOT_SUPPORTED.has(name)) {
    throw new UnsupportedCompressionError(
      `compression method '${name}' of '${source}' is not supported (tsnix reads ${SUPPORTED.join(', ')}); use a cache that serves xz or zstd`,
    );
  }
  throw new UnsupportedCompressionError(`unknown compression method '${name}' in '${source}'`);
}

/**
 * What follows `.nar` in the name of a NAR file in a cache. Nix has no extension for gzip (its
 * list is xz, bzip2, zstd, lzip, lz4, br), so a gzip NAR is a plain `.nar`; readers follow the
 * narinfo's `URL:` and never guess from the name.
 */
export function fileExtension(compression: Compression): string {
  return EXTENSIONS[compression];
}

const EXTENSIONS: Record<Compression, string> = { none: '', xz: '.xz', bzip2: '.bz2', zstd: '.zst', br: '.br', gzip: '' };

/** Levels each codec accepts, and the default: Nix's where Nix fixes one. */
const LEVELS: Record<Exclude<Compression, 'none'>, { fallback: number; min: number; max: number }> = {
  // Nix writes xz at preset 6 (liblzma's default).
  xz: { fallback: 6, min: 0, max: 9 },
  zstd: { fallback: 3, min: 1, max: 22 },
  // Nix's bzip2 sink uses block size 9; so does the bzip2 program.
  bzip2: { fallback: 9, min: 1, max: 9 },
  gzip: { fallback: 6, min: 0, max: 9 },
  // Nix's brotli sink takes the encoder's default quality, 11: small files, slow to write.
  br: { fallback: 11, min: 0, max: 11 },
};

/** The bytes of `input`, decompressed by `compression`; damage to them throws `CorruptCompressedDataError`. */
export function decompress(compression: Compression, input: AsyncIterable<Buffer>, source: string): AsyncIterable<Buffer> {
  const corrupt = (detail: string): Error =>
    new CorruptCompressedDataError(`error while decompressing ${compression} file '${source}': ${detail} (the file is truncated or corrupt)`);
  switch (compression) {
    case 'none':
      return passThrough(input);
    // Nix decodes every concatenated .xz stream of a file, as `xz -d` does.
    case 'xz':
      return throughTransform(input, async () => {
        const lzma = await loadLzma();
        return lzma.createStream('streamDecoder', { flags: lzma.CONCATENATED });
      }, corrupt);
    case 'zstd':
      return throughTransform(input, async () => new (await loadZstd()).DecompressStream(), corrupt);
    case 'gzip':
      return throughTransform(input, () => zlib.createGunzip({ chunkSize: ZLIB_CHUNK }), corrupt);
    case 'br':
      return throughTransform(input, () => zlib.createBrotliDecompress({ chunkSize: ZLIB_CHUNK }), corrupt);
    case 'bzip2':
      return throughBzip2(['-dc'], input, corrupt);
  }
}

/** The bytes of `input`, compressed by `compression` at `level` (the codec's range; Nix's default when absent). */
export function compress(compression: Compression, input: AsyncIterable<Buffer>, level?: number): AsyncIterable<Buffer> {
  if (compression === 'none') return passThrough(input);
  const chosen = compressionLevel(compression, level);
  const failure = (detail: string): Error => new SubstituterError(`cannot compress with ${compression}: ${detail}`);
  switch (compression) {
    case 'xz':
      return throughTransform(input, async () => (await loadLzma()).createStream('easyEncoder', { preset: chosen }), failure);
    case 'zstd':
      return throughTransform(input, async () => new (await loadZstd()).CompressStream({ compressionLevel: chosen }), failure);
    case 'gzip':
      return throughTransform(input, () => zlib.createGzip({ level: chosen, chunkSize: ZLIB_CHUNK }), failure);
    case 'br':
      return throughTransform(
        input,
        () => zlib.createBrotliCompress({ chunkSize: ZLIB_CHUNK, params: { [zlib.constants.BROTLI_PARAM_QUALITY]: chosen } }),
        failure,
      );
    case 'bzip2':
      return throughBzip2(['-c', `-${chosen}`], input, failure);
  }
}

function compressionLevel(compression: Exclude<Compression, 'none'>, level: number | undefined): number {
  const { fallback, min, max } = LEVELS[compression];
  if (level === undefined) return fallback;
  if (!Number.isInteger(level) || level < min || level > max) {
    throw new UnsupportedCompressionError(`compression level ${level} is out of range for ${compression} (${min} to ${max})`);
  }
  return level;
}

async function* passThrough(input: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  for await (const chunk of input) if (chunk.length > 0) yield chunk;
}

/** `input`, remembering whether it failed itself, so its error (a transport's) is not reported as the codec's. */
class WatchedInput {
  failure: { error: unknown } | undefined;
  readonly chunks: AsyncGenerator<Buffer>;

  constructor(input: AsyncIterable<Buffer>, onFailure?: () => void) {
    this.chunks = this.watch(input, onFailure);
  }

  // Only a throw of the input's own next() counts: Readable.from() throws the codec's errors into
  // this generator too, and those must still be reported as the codec's.
  private async *watch(input: AsyncIterable<Buffer>, onFailure: (() => void) | undefined): AsyncGenerator<Buffer> {
    const iterator = input[Symbol.asyncIterator]();
    let finished = false;
    try {
      for (;;) {
        let step: IteratorResult<Buffer>;
        try {
          step = await iterator.next();
        } catch (error) {
          finished = true;
          this.failure = { error };
          onFailure?.();
          throw error;
        }
        if (step.done) {
          finished = true;
          return;
        }
        yield step.value;
      }
    } finally {
      // Stopped early (by the consumer or a codec error): the input closes its connection or file.
      if (!finished) await iterator.return?.();
    }
  }
}

/**
 * `input` through a codec stream. pipeline() and the async iteration carry the backpressure: the
 * codec is fed only while its output is read, so memory stays at a few of its buffers.
 */
async function* throughTransform(
  input: AsyncIterable<Buffer>,
  makeCodec: () => Transform | Promise<Transform>,
  failure: (detail: string) => Error,
): AsyncGenerator<Buffer> {
  const watched = new WatchedInput(input);
  const codec = await makeCodec();
  // Every error (the input's or the codec's) reaches the loop below, which destroys the codec.
  pipeline(Readable.from(watched.chunks, { objectMode: false }), codec, () => {});
  try {
    for await (const chunk of codec) yield chunk as Buffer;
  } catch (error) {
    if (watched.failure) throw watched.failure.error;
    throw failure(firstLine(error instanceof Error ? error.message : String(error)));
  }
}

/**
 * `input` through the bzip2 program. No in-process bzip2 is worth it: the pure-JavaScript
 * decoders on npm are about ten times slower than bzip2, cannot compress, and crash with a
 * TypeError on a truncated stream; the ~10 ms of a process per NAR does not matter for a method
 * this rare (Nix writes xz by default). The pipes carry the backpressure both ways.
 */
async function* throughBzip2(args: string[], input: AsyncIterable<Buffer>, failure: (detail: string) => Error): AsyncGenerator<Buffer> {
  const child = spawn('bzip2', args, { stdio: ['pipe', 'pipe', 'pipe'] });
  // An input that fails must not leave bzip2 to finish a stream that looks complete.
  const watched = new WatchedInput(input, () => child.kill());
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (text: string) => {
    if (stderr.length < 4096) stderr += text;
  });
  const exited = new Promise<{ code: number | null; spawnError?: Error }>((resolve) => {
    child.once('error', (spawnError) => resolve({ code: null, spawnError }));
    child.once('close', (code) => resolve({ code }));
  });
  // bzip2 quits at the first corrupt block and its stdin breaks (EPIPE): its exit status says why.
  const fed = new Promise<void>((resolve) => pipeline(Readable.from(watched.chunks, { objectMode: false }), child.stdin, () => resolve()));
  try {
    for await (const chunk of child.stdout) yield chunk as Buffer;
    const [{ code, spawnError }] = await Promise.all([exited, fed]);
    if (watched.failure) throw watched.failure.error;
    if (spawnError) throw new SubstituterError(`cannot run bzip2 (is it on PATH?): ${spawnError.message}`);
    if (code !== 0) throw failure(firstLine(stderr).replace(/^bzip2: /, '').replace(/[;.]$/, '') || `bzip2 exited with status ${code}`);
  } finally {
    // A consumer that stops early leaves bzip2 blocked on a full pipe.
    if (child.exitCode === null && child.signalCode === null) child.kill();
  }
}

/** The first line that says something: bzip2 starts its complaint with an empty one. */
function firstLine(text: string): string {
  return text.split('\n').find((line) => line.trim() !== '')?.trim() ?? '';
}
