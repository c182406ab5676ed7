/**
 * Where the package's own files are (the sandbox helper, worker scripts, the man page), from
 * its root directory: the same code runs from dist/src/ and from the bundle of the CLI
 * (dist/bundle/), whose location says nothing of where a module was.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

function findPackageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error(`tsnix: no package.json above '${fileURLToPath(import.meta.url)}'`);
    dir = up;
  }
  return dir;
}

export const packageRoot = findPackageRoot();

/** A file of the package, by its path from the root (`helper-c/tsnix-helper`). */
export const packageFile = (relative: string): string => join(packageRoot, relative);

/** A compiled module of src/ (`pool/worker.js`): worker threads run these files, never the bundle. */
export const compiledModule = (relative: string): URL => pathToFileURL(join(packageRoot, 'dist', 'src', relative));
