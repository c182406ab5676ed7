/**
 * Dumps a path to stdout as a NAR, like `nix-store --dump PATH`, so that hyperfine can
 * compare the two:
 *   hyperfine 'nix-store --dump DIR > /dev/null' 'node dist/bench/nar-dump.js DIR > /dev/null'
 * With --hash it prints the NAR's sha256 and size instead (what the pool does). Chunks are
 * recycled (reuseChunks) unless --fresh is given; CHUNK=bytes and THREADS=0|1 in the
 * environment override the chunk size and the helper thread.
 *
 * Measured 2026-11-25 on the 2-core build VM, best of interleaved runs, NODE_EXTRA_CA_CERTS
 * unset (it adds ~45 ms to every node start here):
 *   1 GiB file:               nix-store 199 ms, this 230 ms (node start ~100 ms vs ~60 ms;
 *                             the dump itself runs at `dd bs=256k` speed, ~110 ms)
 *   100,000 files of ~4 KiB:  nix-store 1.14 s, this 1.28 s (1.58 s with THREADS=0)
 *   /usr/include (8.7k files): nix-store 171 ms, this 344 ms (start-up and JIT warm-up)
 *   with --fresh: 1 GiB ~0.55 s, 100k files ~1.5 s (page faults of new buffers)
 */
import { writeSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { dumpPath } from '../src/store/nar/dumpPath.js';

/** stdout may be a non-blocking pipe: wait a little and retry on EAGAIN. */
function writeAll(chunk: Buffer): void {
  for (let written = 0; written < chunk.length; ) {
    try {
      written += writeSync(1, chunk, written);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1);
    }
  }
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const hash = args.includes('--hash');
  const path = args.find((arg) => !arg.startsWith('--'));
  if (!path) throw new Error('usage: nar-dump [--hash] PATH');
  const hasher = createHash('sha256');
  let size = 0;
  const reuseChunks = !args.includes('--fresh');
  const chunkSize = Number(process.env.CHUNK ?? 1 << 20);
  const threads = process.env.THREADS === undefined ? undefined : Number(process.env.THREADS);
  for await (const chunk of dumpPath(path, { reuseChunks, chunkSize, threads })) {
    if (hash) {
      hasher.update(chunk);
      size += chunk.length;
    } else {
      writeAll(chunk);
    }
  }
  if (hash) process.stdout.write(`sha256:${hasher.digest('hex')} ${size}\n`);
}

await main();
