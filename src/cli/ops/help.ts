/** `--help` and `--version`. */
import { readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { packageFile } from '../../packagePaths.js';

const packageJson = packageFile('package.json');
const manPage = packageFile('man/tsnix-store.1');

export function opVersion(): void {
  const version = (JSON.parse(readFileSync(packageJson, 'utf8')) as { version: string }).version;
  process.stdout.write(`tsnix-store (tsnix) ${version}\n`);
}

/** Shows the man page, like nix-store --help; falls back to its raw text when man is missing. */
export function opHelp(): void {
  const r = spawnSync('man', ['-l', manPage], { stdio: 'inherit' });
  if (r.error || r.status !== 0) process.stdout.write(readFileSync(manPage, 'utf8'));
}
