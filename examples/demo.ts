/**
 * The main job: `make demo`. Puts the example graph (examples/graph.ts, eleven derivations)
 * into a store under the user's home, builds it with `tsnix-store -r` in the sandbox, and
 * prints where each result is. Run it again and nothing is rebuilt.
 *
 *   node dist/examples/demo.js [--store ROOT]     (default: $TSNIX_DEMO_STORE or ~/.local/share/tsnix/demo)
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, lstatSync, readlinkSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = fileURLToPath(new URL('.', import.meta.url));
const repo = join(here, '..', '..');
const tsnixStore = join(repo, 'bin', 'tsnix-store');

function storeRoot(argv: string[]): string {
  const i = argv.indexOf('--store');
  if (i >= 0 && argv[i + 1]) return argv[i + 1]!;
  return process.env['TSNIX_DEMO_STORE'] ?? join(homedir(), '.local/share/tsnix/demo');
}

/** As root, builds run as members of `nixbld` (Nix's group, made by nix-bin); without it, as root itself. */
function buildUserOptions(): string[] {
  if (process.getuid?.() !== 0) return [];
  const hasGroup = readFileSync('/etc/group', 'utf8').split('\n').some((l) => l.startsWith('nixbld:'));
  return hasGroup ? [] : ['--option', 'build-users-group', ''];
}

function fail(message: string): never {
  process.stderr.write(`error: ${message}\n`);
  process.exit(1);
}

/** A few lines of what an output holds, so the demo shows results, not just paths. */
function describe(real: string, indent = '    '): string[] {
  const lines: string[] = [];
  const walk = (path: string, rel: string): void => {
    if (lines.length >= 6) return;
    const st = lstatSync(path);
    if (st.isSymbolicLink()) lines.push(`${indent}${rel || '.'} -> ${readlinkSync(path)}`);
    else if (st.isDirectory()) for (const name of readdirSync(path).sort()) walk(join(path, name), rel ? `${rel}/${name}` : name);
    else lines.push(`${indent}${rel || '.'}: ${readFileSync(path, 'utf8').split('\n')[0]}`);
  };
  walk(real, '');
  return lines;
}

function main(): void {
  const root = storeRoot(process.argv.slice(2));
  if (!existsSync('/bin/busybox')) fail("the example builders need a static busybox at /bin/busybox: install Debian's busybox-static");
  process.stdout.write(`store: ${root} (a chroot store: paths /nix/store/… are kept under ${join(root, 'nix/store')})\n`);
  const instantiate = spawnSync(process.execPath, [join(here, 'instantiate.js'), '--store', root], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  if (instantiate.status !== 0) fail('could not write the example derivations into the store');
  const drvs = instantiate.stdout.split('\n').filter((l) => l !== '');
  process.stdout.write(`derivations: ${drvs.join(' ')}\n`);
  const build = spawnSync(tsnixStore, ['--store', root, ...buildUserOptions(), '-j', 'auto', '-r', ...drvs], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  if (build.status !== 0) fail(`tsnix-store -r failed (exit status ${build.status})`);
  process.stdout.write('results:\n');
  for (const path of build.stdout.split('\n').filter((l) => l !== '')) {
    process.stdout.write(`  ${path}\n    (on disk: ${join(root, path)})\n`);
    process.stdout.write(describe(join(root, path), '      ').join('\n') + '\n');
  }
}

main();
