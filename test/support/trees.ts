/** The eight NAR vector trees (test/fixtures/nar/trees.tar), unpacked into a fresh directory. */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { fixture } from './fixtures.js';
import { tempDir } from './cli.js';

export const TREE_NAMES = ['01-regular.txt', '02-exec.sh', '03-symlink', '04-empty-file', '05-empty-dir', '06-tree', '07-sorting', '08-binary'];

export function unpackTrees(): string {
  const dir = join(tempDir('tsnix-trees-'), 'trees');
  execFileSync('mkdir', ['-p', dir]);
  execFileSync('tar', ['xf', fixture('nar/trees.tar'), '-C', dir]);
  return dir;
}
