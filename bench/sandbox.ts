/**
 * Sandbox overhead: tsnix's spawn-to-exit per build against real Nix's per-build cost.
 *   node dist/bench/sandbox.js [reps]
 * tsnix: the wall time of runSandboxedBuild for a builder that runs `true`, and for one that
 * creates $out with a closure of 200 store paths bound in.
 * Nix: `nix-store -r` of a wide set of the same trivial derivations (sandbox = true, build
 * users), in a chroot store; the per-build cost is the slope between a small and a large set,
 * so Nix's fixed start-up cost is not charged to each build.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { median } from './lib.js';
import { DEFAULT_SANDBOX_SETTINGS, runSandboxedBuild } from '../src/build/sandbox.js';
import { makeTestStore, randomHashPart, STORE_DIR, type TestStore } from '../test/security/support/testStore.js';

const reps = Number(process.argv[2] ?? 30);

interface Timing {
  /** The whole driver call: directories, helper, output copy, cleanup. */
  total: number;
  /** Spawn of the helper to its exit. */
  helper: number;
}

async function tsnixBuild(store: TestStore, inputs: string[], builder: string, args: string[]): Promise<Timing> {
  const out = `${STORE_DIR}/${randomHashPart()}-bench`;
  const start = process.hrtime.bigint();
  const result = await runSandboxedBuild({
    storeDir: STORE_DIR,
    realStoreDir: store.realStoreDir,
    inputPaths: [store.bbdir, ...inputs],
    drv: { name: 'bench', builder, args, env: { out }, outputs: { out }, isFixedOutput: false },
    settings: { ...DEFAULT_SANDBOX_SETTINGS },
    onLogLine: () => undefined,
    buildDirParent: join(store.root, 'builds'),
    userPoolDir: join(store.root, 'userpool'),
  });
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  if (result.status.kind !== 'exited' || result.status.code !== 0) throw new Error(`bench build failed: ${JSON.stringify(result.status)}`);
  return { total: seconds, helper: result.helperSeconds };
}

async function tsnixSeries(store: TestStore, inputs: string[], builder: string, args: string[]): Promise<{ total: number[]; helper: number[] }> {
  await tsnixBuild(store, inputs, builder, args); // warm-up
  const series = { total: [] as number[], helper: [] as number[] };
  for (let i = 0; i < reps; i++) {
    const timing = await tsnixBuild(store, inputs, builder, args);
    series.total.push(timing.total);
    series.helper.push(timing.helper);
  }
  return series;
}

const NIX_EXPR = `{ n, seed, closure, bbdir }:
let
  bb = builtins.path { path = bbdir; name = "bbdir"; };
  inputs = builtins.genList (i: builtins.toFile "input-\${seed}-\${toString i}" "input \${toString i}") closure;
in builtins.genList (i: derivation {
  name = "trivial-\${seed}-\${toString i}"; system = "x86_64-linux"; builder = "\${bb}/sh";
  args = [ "-c" "\${bb}/touch $out" ];
  inherit inputs;
}) n
`;

function run(command: string, args: string[]): string {
  const res = spawnSync(command, args, { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (res.status !== 0) throw new Error(`${command} failed (exit ${res.status}): ${res.stderr.slice(-800)}`);
  return res.stdout;
}

/** Seconds for `nix-store -r` of n fresh derivations with `closure` inputs each. */
function nixBatch(work: string, n: number, closure: number, seed: string): number {
  const root = join(work, 'root');
  const drvs = run('nix-instantiate', ['--store', root, join(work, 'trivial.nix'), '--arg', 'n', String(n), '--argstr', 'seed', seed,
    '--arg', 'closure', String(closure), '--arg', 'bbdir', join(work, 'bbdir')]).trim().split('\n');
  const start = process.hrtime.bigint();
  // No substituters: Nix would otherwise spend seconds retrying cache.nixos.org on an offline machine.
  run('nix-store', ['--store', root, '-r', ...drvs, '--option', 'sandbox', 'true', '--option', 'substituters', '',
    '--option', 'build-users-group', 'nixbld', '-j', '1']);
  return Number(process.hrtime.bigint() - start) / 1e9;
}

function nixPerBuild(work: string, closure: number): { slope: number; average: number } {
  const small = 1;
  const large = small + reps;
  const seed = randomHashPart().slice(0, 8);
  const tSmall = nixBatch(work, small, closure, `${seed}s`);
  const tLarge = nixBatch(work, large, closure, `${seed}l`);
  return { slope: (tLarge - tSmall) / (large - small), average: tLarge / large };
}

function ms(seconds: number): string {
  return `${(seconds * 1000).toFixed(1)} ms`;
}

const store = makeTestStore();
const work = mkdtempSync(join(tmpdir(), 'tsnix-bench-nix-'));
try {
  // Single-file store paths, as builtins.toFile makes on the Nix side.
  const closure = Array.from({ length: 200 }, (_, i) => store.addText(`input-${i}`, `input ${i}`));
  const trueTimes = await tsnixSeries(store, [], `${store.bbdir}/true`, []);
  const closureTimes = await tsnixSeries(store, closure, `${store.bbdir}/sh`, ['-c', 'touch $out']);

  let nixTrivial: { slope: number; average: number } | undefined;
  let nixClosure: { slope: number; average: number } | undefined;
  if (spawnSync('nix-store', ['--version']).status === 0) {
    mkdirSync(join(work, 'bbdir'));
    copyFileSync('/bin/busybox', join(work, 'bbdir', 'busybox'));
    symlinkSync('busybox', join(work, 'bbdir', 'sh'));
    symlinkSync('busybox', join(work, 'bbdir', 'touch'));
    writeFileSync(join(work, 'trivial.nix'), NIX_EXPR);
    nixTrivial = nixPerBuild(work, 0);
    nixClosure = nixPerBuild(work, 200);
  }

  const row = (label: string, times: number[]): void =>
    console.log(`  ${label.padEnd(44)} median ${ms(median(times)).padStart(9)}  min ${ms(Math.min(...times)).padStart(9)}`);
  console.log(`sandbox overhead per build (${reps} builds each, sequential)`);
  row('tsnix helper spawn->exit, true', trueTimes.helper);
  row('tsnix whole driver call, true', trueTimes.total);
  row('tsnix helper spawn->exit, 200-path closure', closureTimes.helper);
  row('tsnix whole driver call, 200-path closure', closureTimes.total);
  if (nixTrivial && nixClosure) {
    console.log(`  ${'nix-store -r, trivial derivation'.padEnd(44)} ${ms(nixTrivial.slope)} per build (slope; ${ms(nixTrivial.average)} average)`);
    console.log(`  ${'nix-store -r, 200-path closure'.padEnd(44)} ${ms(nixClosure.slope)} per build (slope; ${ms(nixClosure.average)} average)`);
    const ratio = (a: number[], b: number): string => (median(a) / b).toFixed(2);
    console.log(`  ratio helper/nix: trivial ${ratio(trueTimes.helper, nixTrivial.slope)}, closure ${ratio(closureTimes.helper, nixClosure.slope)} (goal: <= 0.5)`);
    console.log(`  ratio driver/nix: trivial ${ratio(trueTimes.total, nixTrivial.slope)}, closure ${ratio(closureTimes.total, nixClosure.slope)}`);
  } else {
    console.log('  nix    not installed; no comparison');
  }
} finally {
  store.destroy();
  spawnSync('chmod', ['-R', 'u+w', work]);
  rmSync(work, { recursive: true, force: true });
}
