/**
 * Building the shared derivation graphs (wide: 501 drvs, deep: a chain of 200, tree: 285)
 * with tsnix and with real nix side by side, sandbox on, from a store without outputs each
 * time, with max-jobs 1 and 2 (cores 1). Prints tsnix/nix per shape and job count; the goal
 * (issue 5) is at most 0.5 on every row.
 *
 *   node dist/bench/build.js [--reps N] [--shapes wide,deep,tree] [--jobs 1,2] [--only nix|tsnix]
 *                            [--stores DIR] [--timeout SECONDS] [--json FILE]
 *                            [--workloads DIR] [--busybox PATH]
 *
 * Stores live under --stores (default /tmp, a disk, as in NIX-RESULTS.md); each rep copies
 * the template and runs `sync` untimed, so the previous rep's writeback does not land in
 * the next one's time. Reps alternate nix and tsnix so machine noise hits both alike.
 */
import { spawnSync } from 'node:child_process';
import { appendFileSync, mkdtempSync, rmSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { flag, median, repoRoot, time, tsnixStore } from './lib.js';
import { checkBuilt, prepareWorkload, SHAPES, type Shape, type Workload } from './buildWorkloads.js';

const reps = Number(flag('--reps') ?? 3);
const shapes = (flag('--shapes') ?? SHAPES.join(',')).split(',') as Shape[];
const jobCounts = (flag('--jobs') ?? '1,2').split(',').map(Number);
const only = flag('--only');
// A directory of its own per run: two runs at once (two people, one machine) must not delete
// each other's stores mid-build.
const workDir = mkdtempSync(join(flag('--stores') ?? '/tmp', 'tsnix-bench-build-'));
const timeoutSeconds = Number(flag('--timeout') ?? 900);
const jsonFile = flag('--json');
const workloadsDir = flag('--workloads') ?? '/work/shared/bench/workloads';
const busybox = flag('--busybox') ?? '/bin/busybox';
for (const s of shapes) if (!SHAPES.includes(s)) throw new Error(`--shapes: unknown shape '${s}' (known: ${SHAPES.join(', ')})`);
if (only !== undefined && only !== 'nix' && only !== 'tsnix') throw new Error(`--only: expected 'nix' or 'tsnix', not '${only}'`);

type Tool = 'nix' | 'tsnix';
const tools: Tool[] = only ? [only] : ['nix', 'tsnix'];
const program: Record<Tool, string> = { nix: 'nix-store', tsnix: tsnixStore };

interface Row {
  workload: Workload;
  jobs: number;
  seconds: Record<Tool, number[]>;
  /** The first failure of a tool in this row; its later reps are skipped. */
  error: Partial<Record<Tool, string>>;
}

/** One timed `-r` of the top derivation into a fresh copy of the template; checked after. */
function buildOnce(tool: Tool, workload: Workload, jobs: number): number {
  const root = join(workDir, `run-${tool}`);
  const setup = `rm -rf ${root} && cp -a ${workload.template} ${root} && sync`;
  // Both default to the nixbld build users as root; named here so a nix.conf cannot differ.
  // No substituters: Nix would otherwise try cache.nixos.org for every output.
  const options = `--option substituters '' --option sandbox true --option build-users-group nixbld --option max-jobs ${jobs} --option cores 1`;
  // `timeout` bounds a hung run; `exec` so the signal reaches the tool itself.
  const command = `exec timeout -k 10 ${timeoutSeconds} ${program[tool]} --store ${root} ${options} -r ${workload.topDrv}`;
  const [seconds] = time(command, setup, 1);
  checkBuilt(root, workload);
  return seconds!;
}

function machine(): string {
  const head = spawnSync('git', ['-C', repoRoot, 'log', '-1', '--format=%h %s'], { encoding: 'utf8' }).stdout.trim();
  const nixVersion = spawnSync('nix-store', ['--version'], { encoding: 'utf8' }).stdout.trim();
  return `${new Date().toISOString()}  ${cpus().length} cpus  ${nixVersion}  tsnix at ${head.slice(0, 70)}`;
}

const rows: Row[] = [];
console.log(`build benchmark: ${machine()}`);
console.log(`reps ${reps}, stores under ${workDir}, sandbox true, cores 1, tools: ${tools.join(' and ')}`);
for (const shape of shapes) {
  const workload = prepareWorkload(shape, workDir, workloadsDir, busybox);
  console.log(`${shape}: ${workload.drvCount} drvs, top ${workload.topDrv}`);
  for (const jobs of jobCounts) {
    const row: Row = { workload, jobs, seconds: { nix: [], tsnix: [] }, error: {} };
    for (let i = 0; i < reps; i++) {
      for (const tool of tools) {
        if (row.error[tool] !== undefined) continue;
        try {
          const seconds = buildOnce(tool, workload, jobs);
          row.seconds[tool].push(seconds);
          console.log(`  ${shape} -j${jobs} ${tool.padEnd(5)} rep ${i + 1}: ${seconds.toFixed(3)} s`);
        } catch (e) {
          row.error[tool] = (e as Error).message;
          console.log(`  ${shape} -j${jobs} ${tool.padEnd(5)} rep ${i + 1}: FAILED: ${(e as Error).message}`);
        }
      }
    }
    rows.push(row);
    if (jsonFile) appendFileSync(jsonFile, `${JSON.stringify({ shape, jobs, drvs: workload.drvCount, seconds: row.seconds, error: row.error })}\n`);
  }
  for (const tool of tools) rmSync(join(workDir, `run-${tool}`), { recursive: true, force: true });
  rmSync(workload.template, { recursive: true, force: true });
}
rmSync(workDir, { recursive: true, force: true });
printTable(rows);

function printTable(all: Row[]): void {
  const cell = (r: Row, tool: Tool): string => {
    const s = r.seconds[tool];
    if (s.length === 0) return `${r.error[tool] !== undefined ? 'FAILED' : '-'}`.padEnd(24) + '-'.padStart(7);
    const timeText = `${median(s).toFixed(3).padStart(7)} (${Math.min(...s).toFixed(2)}-${Math.max(...s).toFixed(2)})`;
    return timeText.padEnd(24) + ((median(s) / r.workload.drvCount) * 1000).toFixed(1).padStart(7);
  };
  console.log('');
  const head = (tool: Tool): string => `${tool} s (min-max)`.padEnd(24) + 'ms/drv'.padStart(7);
  console.log(`${'shape'.padEnd(6)} ${'drvs'.padStart(4)} ${'jobs'.padStart(4)}  ${head('nix')}   ${head('tsnix')}   tsnix/nix`);
  let worst: { ratio: number; row: Row } | undefined;
  for (const r of all) {
    const ratio = r.seconds.nix.length && r.seconds.tsnix.length ? median(r.seconds.tsnix) / median(r.seconds.nix) : undefined;
    if (ratio !== undefined && (worst === undefined || ratio > worst.ratio)) worst = { ratio, row: r };
    const complete = r.error.nix === undefined && r.error.tsnix === undefined;
    const ratioText = ratio === undefined ? '-' : `${ratio.toFixed(2)}${complete ? '' : ' (partial)'}`;
    console.log(`${r.workload.shape.padEnd(6)} ${String(r.workload.drvCount).padStart(4)} ${`-j${r.jobs}`.padStart(4)}  ${cell(r, 'nix')}   ${cell(r, 'tsnix')}   ${ratioText}`);
  }
  console.log(`(medians of ${reps} reps; ms/drv = median / drvs)`);
  for (const r of all) {
    for (const tool of tools) if (r.error[tool] !== undefined) console.log(`${tool} failed on ${r.workload.shape} -j${r.jobs}: ${r.error[tool]}`);
  }
  const failed = all.some((r) => Object.keys(r.error).length > 0);
  if (tools.length === 2 && worst !== undefined) {
    const met = !failed && all.every((r) => median(r.seconds.tsnix) <= 0.5 * median(r.seconds.nix));
    console.log(`goal tsnix/nix <= 0.50 on every row: ${met ? 'met' : 'NOT met'} (worst ${worst.ratio.toFixed(2)} on ${worst.row.workload.shape} -j${worst.row.jobs})`);
  }
  if (failed) process.exitCode = 1;
}
