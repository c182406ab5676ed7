/**
 * Finding the real Nix for interop tests. Without it the tests skip, unless
 * TSNIX_REQUIRE_NIX=1 says this machine must have it: then they fail, so a broken CI image
 * cannot pass by skipping everything.
 */
import { accessSync, constants, existsSync, writeFileSync } from 'node:fs';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { delimiter, join } from 'node:path';

/** The absolute path of a Nix program on PATH, or undefined. */
export function findNixProgram(name = 'nix-store'): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir === '') continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT' && (e as NodeJS.ErrnoException).code !== 'EACCES') throw e;
    }
  }
  return undefined;
}

/**
 * Call in a `before` hook: returns the program's path, or skips the suite (fails it when
 * TSNIX_REQUIRE_NIX=1) when it is missing.
 */
export function requireNix(context: Mocha.Context, name = 'nix-store'): string {
  const found = findNixProgram(name);
  if (found !== undefined) return found;
  if (process.env.TSNIX_REQUIRE_NIX === '1') throw new Error(`${name} not found on PATH, and TSNIX_REQUIRE_NIX=1`);
  context.skip();
}

export interface NixResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a Nix program synchronously with a clean configuration; `input` goes to stdin. */
export function runNix(program: string, args: string[], input?: Buffer | string): NixResult {
  const result: SpawnSyncReturns<string> = spawnSync(program, args, {
    input,
    encoding: 'utf8',
    env: { ...process.env, NIX_CONF_DIR: '/nonexistent', NIX_REMOTE: '' },
    maxBuffer: 64 * 1024 * 1024,
  });
  if (result.error) throw result.error;
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** Like runNix, but a non-zero exit is an error carrying Nix's message. */
export function nixOk(program: string, args: string[], input?: Buffer | string): string {
  const result = runNix(program, args, input);
  if (result.status !== 0) throw new Error(`${program} ${args.join(' ')} failed (${result.status}): ${result.stderr.trim()}`);
  return result.stdout;
}

/** Runs a Nix program that prints binary output (e.g. `--dump`); fails on a non-zero exit. */
export function nixBytes(program: string, args: string[]): Buffer {
  const result = spawnSync(program, args, { env: { ...process.env, NIX_CONF_DIR: '/nonexistent', NIX_REMOTE: '' }, maxBuffer: 256 * 1024 * 1024 });
  if (result.error) throw result.error;
  if (result.status !== 0) throw new Error(`${program} ${args.join(' ')} failed (${result.status}): ${result.stderr.toString().trim()}`);
  return result.stdout;
}

/** The outputs a store built itself: nix registers those as "ultimate" (what it was sent or fetched is not). */
export function builtThere(root: string): string[] {
  const db = join(root, 'nix/var/nix/db/db.sqlite');
  if (!existsSync(db)) return [];
  return spawnSync('sqlite3', [db, 'select path from ValidPaths where ultimate = 1'], { encoding: 'utf8' }).stdout.split('\n').filter((l) => l !== '');
}

/**
 * Real `nix-build` of a one-output busybox derivation `name` running `script`, with `max-jobs
 * 0` and `builder` (a `builders` line) as its one machine. The store at `root` is bound at
 * /nix in a mount namespace of its own, as nix's build hook reads /nix; it holds `busybox`.
 */
export function nixBuildOnBuilder(root: string, busybox: string, name: string, script: string, builder: string, env: NodeJS.ProcessEnv = process.env): SpawnSyncReturns<string> {
  // JSON's quoting is Nix's but for `${`, which would be an interpolation.
  if (script.includes('${')) throw new Error(`nixBuildOnBuilder: the script may not hold '\${': ${script}`);
  writeFileSync(
    join(root, 'remote.nix'),
    `let bb = builtins.storePath "${busybox}"; in derivation {
      name = "${name}"; system = "x86_64-linux";
      builder = "\${bb}/bin/busybox"; args = [ "sh" "-c" ${JSON.stringify(script)} ];
    }`,
  );
  return spawnSync('unshare', ['-m', 'sh', '-c', `mount --bind ${root}/nix /nix && cd ${root} && nix-build remote.nix --max-jobs 0 --option substituters '' --builders "$BUILDER"`], {
    encoding: 'utf8',
    env: { ...env, NIX_REMOTE: '', NIX_CONF_DIR: '/nonexistent', BUILDER: builder },
  });
}
