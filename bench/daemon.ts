/**
 * tsnix-daemon against nix-daemon, each serving a copy of the same store to the same real
 * Nix clients, reported as ratios:
 *
 * - `nix-store -q --hash` of 10,000 paths, one client;
 * - `nix copy --to unix://…` of 10,000 small paths into the daemon (a fresh store each run).
 *
 *   node dist/bench/daemon.js [--reps N] [--stores DIR]
 *
 * Stores live on tmpfs (/dev/shm) by default. Each daemon is started before its timed run
 * and stopped after it; only the client command is timed.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { flag, printRows, repoRoot, type Row, tsnixStore } from './lib.js';

const reps = Number(flag('--reps') ?? 3);
const storesDir = flag('--stores') ?? '/dev/shm';
const work = join(storesDir, `tsnix-bench-daemon-${process.pid}`);
const tsnixDaemon = `${repoRoot}bin/tsnix-daemon`;
const env: NodeJS.ProcessEnv = { ...process.env, NIX_CONF_DIR: '/nonexistent', TSNIX_CONF_DIR: '/nonexistent', NIX_REMOTE: '' };
delete env['NODE_EXTRA_CA_CERTS'];

type Who = 'nix' | 'tsnix';

async function startDaemon(who: Who, root: string): Promise<{ socket: string; child: ChildProcess }> {
  const socket = join(root, 'bench.sock');
  rmSync(socket, { force: true });
  const child =
    who === 'nix'
      ? spawn('nix-daemon', ['--store', root], { env: { ...env, NIX_DAEMON_SOCKET_PATH: socket }, stdio: 'ignore' })
      : spawn(tsnixDaemon, ['--store', root], { env: { ...env, NIX_DAEMON_SOCKET_PATH: socket }, stdio: 'ignore' });
  for (let waited = 0; !existsSync(socket); waited += 10) {
    if (waited > 10000) throw new Error(`${who} daemon did not start on ${root}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return { socket, child };
}

async function stopDaemon(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}

function timed(command: string, args: string[]): number {
  const start = process.hrtime.bigint();
  const r = spawnSync(command, args, { env, stdio: ['ignore', 'ignore', 'pipe'], maxBuffer: 1 << 28 });
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  if (r.status !== 0) throw new Error(`${command} failed (${r.status}): ${r.stderr.toString().slice(-500)}`);
  return seconds;
}

/** A store with `count` small paths added by tsnix; returns the paths. */
function smallPaths(root: string, count: number): string[] {
  const src = join(work, 'src');
  mkdirSync(src, { recursive: true });
  const files = Array.from({ length: count }, (_, i) => {
    const file = join(src, `small${i}`);
    if (!existsSync(file)) writeFileSync(file, `small path ${i}\n`);
    return file;
  });
  const paths: string[] = [];
  for (let i = 0; i < files.length; i += 1000) {
    const r = spawnSync(tsnixStore, ['--store', root, '--add', ...files.slice(i, i + 1000)], { encoding: 'utf8', env, maxBuffer: 1 << 26 });
    if (r.status !== 0) throw new Error(`tsnix-store --add failed: ${r.stderr}`);
    paths.push(...r.stdout.split('\n').filter((l) => l !== ''));
  }
  return paths;
}

async function queryWorkload(): Promise<Row> {
  const template = join(work, 'query-template');
  const paths = smallPaths(template, 10000);
  const row: Row = { name: 'nix-store -q --hash, 10,000 paths', nix: [], tsnix: [] };
  for (const who of ['nix', 'tsnix'] as const) {
    const root = join(work, `query-${who}`);
    spawnSync('cp', ['-a', template, root]);
    const { socket, child } = await startDaemon(who, root);
    try {
      for (let i = 0; i < reps; i++) row[who].push(timed('nix-store', ['--store', `unix://${socket}`, '-q', '--hash', ...paths]));
    } finally {
      await stopDaemon(child);
    }
  }
  return row;
}

async function copyWorkload(): Promise<Row> {
  const source = join(work, 'copy-source');
  const paths = smallPaths(source, 10000);
  const row: Row = { name: 'nix copy --to the daemon, 10,000 paths', nix: [], tsnix: [] };
  for (let i = 0; i < reps; i++) {
    for (const who of ['nix', 'tsnix'] as const) {
      const root = join(work, `copy-${who}`);
      spawnSync('rm', ['-rf', root]);
      mkdirSync(root, { recursive: true });
      const { socket, child } = await startDaemon(who, root);
      try {
        const args = ['--extra-experimental-features', 'nix-command', 'copy', '--option', 'substituters', '', '--no-check-sigs', '--from', source, '--to', `unix://${socket}`, ...paths];
        row[who].push(timed('nix', args));
      } finally {
        await stopDaemon(child);
      }
    }
  }
  return row;
}

try {
  mkdirSync(work, { recursive: true });
  printRows([await queryWorkload(), await copyWorkload()]);
} finally {
  spawnSync('chmod', ['-R', 'u+w', work]);
  rmSync(work, { recursive: true, force: true });
}
