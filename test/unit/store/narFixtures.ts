/** Temporary directories for the NAR dump/restore tests, and the Nix-made NAR vectors. */
import { execFileSync } from 'node:child_process';
import { chmodSync, lstatSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fixture } from '../../support/fixtures.js';

export function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'tsnix-nar-'));
}

/** Restored trees are read-only (0555 directories); make them writable so they can go. */
export function removeTree(path: string): void {
  const stack = [path];
  while (stack.length > 0) {
    const dir = stack.pop()!;
    let stats;
    try {
      stats = lstatSync(dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw err;
    }
    if (!stats.isDirectory()) continue;
    chmodSync(dir, 0o755);
    for (const name of readdirSync(dir)) stack.push(join(dir, name));
  }
  rmSync(path, { recursive: true, force: true });
}

export interface NarVector {
  name: string;
  size: number;
  sha256Base16: string;
  sha256Nix32: string;
  nar: Buffer;
}

export function narVectors(): NarVector[] {
  return readFileSync(fixture('nar/summary.txt'), 'utf8')
    .split('\n')
    .filter((line) => line.trim())
    .map((line) => {
      const [name, ...fields] = line.split(' ');
      const field = (key: string) => fields.find((f) => f.startsWith(`${key}=`))!.slice(key.length + 1);
      return {
        name: name!,
        size: Number(field('size')),
        sha256Base16: field('sha256-base16'),
        sha256Nix32: field('sha256-nix32'),
        nar: readFileSync(fixture(`nar/${name}.nar`)),
      };
    });
}

/** Unpacks vectors/nar/trees.tar (made by make-trees.sh) into a new directory. */
export function extractTrees(): string {
  const dir = tempDir();
  execFileSync('tar', ['-xf', fixture('nar/trees.tar'), '-C', dir]);
  return dir;
}

export async function collect(chunks: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of chunks) parts.push(Buffer.from(chunk));
  return Buffer.concat(parts);
}
