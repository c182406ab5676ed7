/** Runs the real `bin/tsnix-store` as a user would, capturing what it prints. */
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from './fixtures.js';

export const TSNIX_STORE = join(repoRoot, 'bin', 'tsnix-store');

export interface RunResult {
  code: number | null;
  stdout: Buffer;
  stderr: string;
}

/** One narinfo disk cache per test process, never the user's (~/.cache/tsnix). */
let testCacheHome: string | undefined;

export function run(command: string, args: string[], options: { input?: Buffer | string; env?: NodeJS.ProcessEnv } = {}): Promise<RunResult> {
  testCacheHome ??= mkdtempSync(join(tmpdir(), 'tsnix-test-cache-'));
  return new Promise((resolvePromise, reject) => {
    const env = { ...process.env, TSNIX_CONF_DIR: '/nonexistent', XDG_CACHE_HOME: testCacheHome, ...options.env };
    const child = spawn(command, args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    child.on('error', reject);
    child.on('close', (code) => resolvePromise({ code, stdout: Buffer.concat(out), stderr: Buffer.concat(err).toString() }));
    child.stdin.on('error', () => {}); // the child may exit before reading all input
    child.stdin.end(options.input ?? '');
  });
}

export function tsnixStore(args: string[], options: { input?: Buffer | string; env?: NodeJS.ProcessEnv } = {}): Promise<RunResult> {
  return run(TSNIX_STORE, args, options);
}

/** Runs and expects success; returns stdout as text. */
export async function tsnixStoreOk(args: string[], options: { input?: Buffer | string } = {}): Promise<string> {
  const r = await tsnixStore(args, options);
  if (r.code !== 0) throw new Error(`tsnix-store ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
  return r.stdout.toString();
}

export function tempDir(prefix = 'tsnix-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}
