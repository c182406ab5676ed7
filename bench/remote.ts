/**
 * Remote builds: the wide and tree workloads built with `max-jobs = 0` on two machines of
 * `builders`, tsnix-store -r against nix-store -r with the same builders line. Both machines
 * are real Nix 2.8 (`nix-store --serve --write`) on stores of their own, reached as
 * `ssh://localhost?remote-store=…`, which Nix and tsnix both run through bash instead of ssh:
 * the figures leave out ssh's own cost (a connection per build for nix, one per machine kept
 * for tsnix), so they favour nix. Reported as ratios.
 *
 * With `--ssh`, both reach the machines over real ssh instead, to an sshd of the benchmark's
 * own on 127.0.0.1 (root, a key of its own; `NIX_SSHOPTS` names them for both). With
 * `--nix-control-master` too, nix's ssh shares one connection per machine through OpenSSH's
 * own multiplexing (ControlMaster=auto, ControlPersist), as a user may set up in ~/.ssh/config:
 * nix then pays a session per build instead of a login.
 *
 *   node dist/bench/remote.js [--reps N] [--shapes wide,tree] [--stores DIR] [--ssh [--nix-control-master]]
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { checkBuilt, prepareWorkload, type Shape } from './buildWorkloads.js';
import { flag, printRows, type Row, tsnixStore } from './lib.js';

const reps = Number(flag('--reps') ?? 3);
const shapes = (flag('--shapes') ?? 'wide,tree').split(',') as Shape[];
const workDir = mkdtempSync(join(flag('--stores') ?? '/tmp', 'tsnix-bench-remote-'));
const workloadsDir = flag('--workloads') ?? '/work/shared/bench/workloads';
const busybox = flag('--busybox') ?? '/bin/busybox';
const timeoutSeconds = Number(flag('--timeout') ?? 1800);
const overSsh = process.argv.includes('--ssh');
const nixControlMaster = process.argv.includes('--nix-control-master');
/** nix's control sockets: a short directory of their own, as a socket's path is short (108 bytes). */
const controlDir = nixControlMaster ? mkdtempSync('/tmp/tsnix-cm-') : undefined;
/** The machines' host part, and the environment that reaches them. */
let host = 'localhost';
const env: NodeJS.ProcessEnv = { ...process.env, NIX_CONF_DIR: '/nonexistent', TSNIX_CONF_DIR: '/nonexistent', NIX_REMOTE: '' };

/** One timed run; the machines' stores are fresh each time, so every derivation is built. */
function buildOnce(tool: 'nix' | 'tsnix', template: string, topDrv: string): number {
  const root = join(workDir, `run-${tool}`);
  const machines = [join(workDir, `${tool}-machine-a`), join(workDir, `${tool}-machine-b`)];
  for (const dir of [root, ...machines]) rmSync(dir, { recursive: true, force: true });
  spawnSync('cp', ['-a', template, root]);
  const builders = machines.map((m) => `ssh://${host}?remote-store=${m} x86_64-linux - 2 1`).join(' ; ');
  const options = ['--option', 'substituters', '', '--option', 'max-jobs', '0', '--option', 'builders', builders];
  // nix's build hook reads the local store at /nix: its root is bound there in a mount namespace.
  const command =
    tool === 'nix'
      ? ['unshare', '-m', 'sh', '-c', `mount --bind ${root}/nix /nix && exec timeout ${timeoutSeconds} nix-store -r ${topDrv} ${options.map((o) => `'${o}'`).join(' ')}`]
      : ['timeout', String(timeoutSeconds), tsnixStore, '--store', root, '-r', topDrv, ...options];
  const toolEnv = tool === 'nix' && controlDir ? { ...env, NIX_SSHOPTS: `${env['NIX_SSHOPTS'] ?? ''} -o ControlMaster=auto -o ControlPath=${controlDir}/%C -o ControlPersist=60` } : env;
  const start = process.hrtime.bigint();
  const r = spawnSync(command[0]!, command.slice(1), { stdio: ['ignore', 'ignore', 'pipe'], env: toolEnv });
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  if (r.status !== 0) {
    // The whole of what it said, for finding out why (the message shows only the end).
    const log = join(flag('--stores') ?? '/tmp', `tsnix-bench-remote-${tool}-failure.log`);
    writeFileSync(log, r.stderr);
    throw new Error(`${tool} failed (exit ${r.status}; all it said is in ${log}): ${r.stderr.toString().slice(-800)}`);
  }
  // A machine left alone for a while slows a run down: say so beside its time.
  const warnings = r.stderr.toString().split('\n').filter((l) => l.startsWith('warning:') && !l.includes("'--add-root'"));
  for (const line of warnings.slice(0, 5)) console.log(`  (${tool}) ${line}`);
  return seconds;
}

const sshd = overSsh ? await (await import('../test/support/sshd.js')).startSshd() : undefined;
if (sshd) {
  host = 'root@127.0.0.1';
  env['NIX_SSHOPTS'] = sshd.sshOptions;
}
try {
  const rows: Row[] = [];
  for (const shape of shapes) {
    const workload = prepareWorkload(shape, join(workDir, shape), workloadsDir, busybox);
    const over = sshd ? (nixControlMaster ? ' over ssh (nix: ControlMaster)' : ' over ssh') : '';
    const row: Row = { name: `${shape} (${workload.drvCount} drvs), 2 machines${over}`, nix: [], tsnix: [] };
    for (let i = 0; i < reps; i++) {
      for (const tool of ['nix', 'tsnix'] as const) {
        row[tool].push(buildOnce(tool, workload.template, workload.topDrv));
        checkBuilt(join(workDir, `run-${tool}`), workload);
        console.log(`  ${shape} ${tool} rep ${i + 1}: ${row[tool].at(-1)!.toFixed(3)} s`);
      }
    }
    rows.push(row);
  }
  printRows(rows);
} finally {
  await sshd?.stop();
  rmSync(workDir, { recursive: true, force: true });
  if (controlDir) rmSync(controlDir, { recursive: true, force: true });
}
