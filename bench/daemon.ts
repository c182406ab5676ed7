/**
 * tsnix-daemon against nix-daemon, each serving a copy of the same store to the same real
 * Nix clients, reported as ratios:
 *
 * - `nix-store -q --hash` of 10,000 paths, one client;
 * - `nix copy --to unix://…` of 10,000 small paths into the daemon (a fresh store each run);
 * - 20 `nix-store -r` clients at once, each realising a derivation on 100 of the wide
 *   workload's 500 leaves, every leaf in 4 of them (a fresh copy of the workload's store each
 *   run). A `pre-build-hook` of both daemons lists every build: each derivation must be built
 *   once. (With the 100 leaves themselves on each command line, nix-daemon 2.8 did not
 *   finish here: all 500 were built, then its 20 workers held 527 output locks between them
 *   and polled for each other's for minutes: a worker seems to keep the locks of its
 *   finished top-level goals until its whole request ends.)
 *
 *   node dist/bench/daemon.js [--reps N] [--stores DIR] [--only query,copy,shared]
 *
 * Stores live on tmpfs (/dev/shm) by default. Each daemon is started before its timed run
 * and stopped after it; only the client command is timed.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { flag, median, printRows, repoRoot, type Row, tsnixStore } from './lib.js';
import { prepareWorkload } from './buildWorkloads.js';

const reps = Number(flag('--reps') ?? 3);
const only = (flag('--only') ?? 'query,copy,shared').split(',');
const workloadsDir = flag('--workloads') ?? '/work/shared/bench/workloads';
const busybox = flag('--busybox') ?? '/bin/busybox';
const storesDir = flag('--stores') ?? '/dev/shm';
const work = join(storesDir, `tsnix-bench-daemon-${process.pid}`);
const tsnixDaemon = `${repoRoot}bin/tsnix-daemon`;
const env: NodeJS.ProcessEnv = { ...process.env, NIX_CONF_DIR: '/nonexistent', TSNIX_CONF_DIR: '/nonexistent', NIX_REMOTE: '' };
delete env['NODE_EXTRA_CA_CERTS'];

type Who = 'nix' | 'tsnix';

async function startDaemon(who: Who, root: string, options: string[] = []): Promise<{ socket: string; child: ChildProcess }> {
  const socket = join(root, 'bench.sock');
  rmSync(socket, { force: true });
  const child =
    who === 'nix'
      ? spawn('nix-daemon', ['--store', root, ...options], { env: { ...env, NIX_DAEMON_SOCKET_PATH: socket }, stdio: 'ignore' })
      : spawn(tsnixDaemon, ['--store', root, ...options], { env: { ...env, NIX_DAEMON_SOCKET_PATH: socket }, stdio: 'ignore' });
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

/**
 * The client's own CPU time (user + system) of each timed run, by workload and daemon: a
 * floor of the wall time whatever the daemon does (these clients do their work on one
 * thread), so a goal below it cannot be met with this client.
 */
const clientCpu = new Map<string, Record<Who, number[]>>();

function timed(command: string, args: string[], workload: string, who: Who): number {
  const start = process.hrtime.bigint();
  // bash's `times` prints its children's user and system time (on fd 3, apart from the client's stderr).
  const r = spawnSync('bash', ['-c', '"$@" && times >&3', 'bash', command, ...args], { env, stdio: ['ignore', 'ignore', 'pipe', 'pipe'], maxBuffer: 1 << 28 });
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  if (r.status !== 0) throw new Error(`${command} failed (${r.status}): ${r.stderr.toString().slice(-500)}`);
  const children = (r.output[3]?.toString() ?? '').trim().split('\n')[1] ?? '';
  const cpu = [...children.matchAll(/(\d+)m([\d.]+)s/g)].reduce((sum, m) => sum + Number(m[1]) * 60 + Number(m[2]), 0);
  const entry = clientCpu.get(workload) ?? { nix: [], tsnix: [] };
  entry[who].push(cpu);
  clientCpu.set(workload, entry);
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
      for (let i = 0; i < reps; i++) row[who].push(timed('nix-store', ['--store', `unix://${socket}`, '-q', '--hash', ...paths], row.name, who));
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
        row[who].push(timed('nix', args, row.name, who));
      } finally {
        await stopDaemon(child);
      }
    }
  }
  return row;
}

/** Runs `command` and resolves with its exit status and stderr's tail. */
function run(command: string, args: string[]): Promise<{ status: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString()).slice(-2000);
    });
    child.on('close', (status) => resolve({ status, stderr }));
  });
}

/**
 * The wide workload's leaves in 20 overlapping groups: group i is a derivation on leaves
 * [25i, 25i + 100) (mod 500), so each leaf is in 4 groups. Returns the groups' `.drv` paths,
 * registered in the workload's template store.
 */
function groupDerivations(workload: { template: string }, wideDir: string, clients: number): string[] {
  const expr = readFileSync(join(wideDir, 'wide.nix'), 'utf8');
  const at = expr.lastIndexOf('in top');
  if (at < 0) throw new Error(`${wideDir}/wide.nix does not end with 'in top'`);
  const groups = Array.from({ length: clients }, (_, i) => `  g${i} = mk "g${i}" [ ${Array.from({ length: 100 }, (_, k) => `n${(i * 25 + k) % 500}`).join(' ')} ];`);
  writeFileSync(join(wideDir, 'groups.nix'), `${expr.slice(0, at)}in {\n${groups.join('\n')}\n}\n`);
  const drvs = Array.from({ length: clients }, (_, i) => {
    const r = spawnSync('nix-instantiate', ['--store', workload.template, join(wideDir, 'groups.nix'), '-A', `g${i}`], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`nix-instantiate of group ${i} failed: ${r.stderr}`);
    return r.stdout.trim();
  });
  return drvs;
}

async function sharedBuildsWorkload(): Promise<Row> {
  const clients = 20;
  const wideDir = join(work, 'wide');
  const workload = prepareWorkload('wide', wideDir, workloadsDir, busybox);
  const groups = groupDerivations(workload, wideDir, clients);
  const expectedBuilds = 500 + clients;
  const row: Row = { name: `${clients} clients -r at once, each a group of 100 of the wide workload's 500 leaves (each leaf in 4)`, nix: [], tsnix: [] };
  const hook = join(work, 'count-builds.sh');
  writeFileSync(hook, '#!/bin/sh\necho "$1" >> "$BUILT_LIST"\n', { mode: 0o755 });
  for (let i = 0; i < reps; i++) {
    for (const who of ['nix', 'tsnix'] as const) {
      const root = join(work, `shared-${who}`);
      spawnSync('rm', ['-rf', root]);
      spawnSync('cp', ['-a', workload.template, root]);
      const builtList = join(root, 'built.list');
      writeFileSync(builtList, '');
      env['BUILT_LIST'] = builtList;
      const options = ['--option', 'sandbox', 'true', '--option', 'build-users-group', 'nixbld', '--option', 'max-jobs', '2', '--option', 'pre-build-hook', hook];
      const { socket, child } = await startDaemon(who, root, options);
      try {
        const start = process.hrtime.bigint();
        // A unix:// client reads `.drv` files from its own /nix/store: the store's root is bound there.
        const client = (drv: string): string[] => ['-m', 'sh', '-c', `mount --bind ${root}/nix /nix && exec nix-store --store unix://${socket} --option substituters '' -r ${drv}`];
        const results = await Promise.all(groups.map((drv) => run('unshare', client(drv))));
        const seconds = Number(process.hrtime.bigint() - start) / 1e9;
        const failed = results.find((r) => r.status !== 0);
        if (failed) throw new Error(`a ${who} client failed (${failed.status}): ${failed.stderr}`);
        const built = readFileSync(builtList, 'utf8').split('\n').filter((l) => l !== '');
        if (built.length !== expectedBuilds || new Set(built).size !== expectedBuilds) {
          throw new Error(`${who}-daemon ran ${built.length} builds of ${new Set(built).size} derivations; expected each of the ${expectedBuilds} once`);
        }
        row[who].push(seconds);
      } finally {
        await stopDaemon(child);
      }
    }
  }
  return row;
}

try {
  mkdirSync(work, { recursive: true });
  const rows: Row[] = [];
  if (only.includes('query')) rows.push(await queryWorkload());
  if (only.includes('copy')) rows.push(await copyWorkload());
  if (only.includes('shared')) rows.push(await sharedBuildsWorkload());
  printRows(rows);
  for (const [workload, cpu] of clientCpu) {
    const nixWall = median(rows.find((r) => r.name === workload)!.nix);
    console.log(
      `  ${workload}: the client's own CPU time (user+sys, medians) ${median(cpu.nix).toFixed(3)} s beside nix-daemon, ${median(cpu.tsnix).toFixed(3)} s beside tsnix-daemon; half of nix-daemon's time is ${(nixWall / 2).toFixed(3)} s`,
    );
  }
} finally {
  spawnSync('chmod', ['-R', 'u+w', work]);
  rmSync(work, { recursive: true, force: true });
}
