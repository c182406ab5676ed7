/** Temporary directories for the NAR dump/restore tests, and the Nix-made NAR vectors. */
import { execFileSync } from 'node:child_process';
import { chmodSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NarNode } from '../../../src/format/nar/index.js';
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

type Directory = Extract<NarNode, { type: 'directory' }>;

/** Writes a varied tree to disk and returns the NarNode it must dump as. */
export function buildTree(root: string, directories: number): NarNode {
  const node: Directory = { type: 'directory', entries: [] };
  mkdirSync(root);
  const add = (parent: Directory, name: string, child: NarNode) => parent.entries.push({ name: Buffer.from(name), node: child });
  for (let d = 0; d < directories; d++) {
    const dirName = `d${String(d).padStart(3, '0')}`;
    const dirPath = join(root, dirName);
    mkdirSync(join(dirPath, 'sub'), { recursive: true });
    mkdirSync(join(dirPath, 'empty'));
    const dir: Directory = { type: 'directory', entries: [] };
    const sub: Directory = { type: 'directory', entries: [] };
    add(node, dirName, dir);
    add(dir, 'sub', sub);
    add(dir, 'empty', { type: 'directory', entries: [] });
    for (let f = 0; f < 20; f++) {
      const contents = Buffer.alloc((d * 131 + f * 97) % 3000, `${d}.${f}`);
      const executable = f % 5 === 0;
      writeFileSync(join(dirPath, `f${f}`), contents);
      chmodSync(join(dirPath, `f${f}`), executable ? 0o755 : 0o644);
      add(dir, `f${f}`, { type: 'regular', executable, contents });
    }
    for (let f = 0; f < 5; f++) {
      writeFileSync(join(dirPath, 'sub', `é${f}`), `sub ${d} ${f}`);
      add(sub, `é${f}`, { type: 'regular', executable: false, contents: Buffer.from(`sub ${d} ${f}`) });
    }
    symlinkSync(`../d${d}`, join(dirPath, 'link'));
    add(dir, 'link', { type: 'symlink', target: Buffer.from(`../d${d}`) });
  }
  return node;
}
