/**
 * Garbage collection and optimisation, tsnix and real nix side by side on copies of the same
 * stores, reported as ratios:
 *
 * - `--gc` of a store holding 10,000 dead paths (each a directory with a subdirectory and
 *   three small files) beside 100 live ones;
 * - `--gc --print-roots` with 1,000 roots (600 direct symlinks, 200 indirect through `auto/`,
 *   200 files named by base names);
 * - `--optimise` of 2,000 paths of 12 files each, 10 of which every path shares.
 *
 *   node dist/bench/gc.js [--reps N] [--stores DIR] [--only gc|roots|optimise]
 *
 * The stores live on tmpfs (/dev/shm) by default, so that a disk's writeback does not drown
 * what the tools do; each timed run gets a fresh copy of a template store (copying untimed).
 */
import { mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { flag, median, printRows, type Row, sh, sideBySide, time, tsnixStore } from './lib.js';

const reps = Number(flag('--reps') ?? 3);
const storesDir = flag('--stores') ?? '/dev/shm';
const only = flag('--only');
const work = join(storesDir, `tsnix-bench-gc-${process.pid}`);

/** Adds every directory in `dirs` to the chroot store `root` with tsnix, in chunks; returns the store paths. */
function addAll(root: string, dirs: string[]): string[] {
  const paths: string[] = [];
  for (let i = 0; i < dirs.length; i += 1000) {
    const r = spawnSync(tsnixStore, ['--store', root, '--add', ...dirs.slice(i, i + 1000)], { encoding: 'utf8', maxBuffer: 1 << 26 });
    if (r.status !== 0) throw new Error(`tsnix-store --add failed: ${r.stderr}`);
    paths.push(...r.stdout.split('\n').filter((l) => l !== ''));
  }
  return paths;
}

function sourceTrees(name: string, count: number, fill: (dir: string, i: number) => void): string[] {
  const base = join(work, 'src', name);
  return Array.from({ length: count }, (_, i) => {
    const dir = join(base, `${name}${i}`);
    mkdirSync(dir, { recursive: true });
    fill(dir, i);
    return dir;
  });
}

/** A template store and a fresh copy of it before each timed run. */
function copyFresh(template: string, who: 'nix' | 'tsnix'): { setup: string; root: string } {
  const root = join(work, `run-${who}`);
  return { setup: `rm -rf ${root} && cp -a ${template} ${root}`, root };
}

function gcWorkload(): Row {
  const template = join(work, 'gc-template');
  const dead = sourceTrees('dead', 10000, (dir, i) => {
    mkdirSync(join(dir, 'lib'));
    writeFileSync(join(dir, 'lib/a'), `dead ${i} a\n`);
    writeFileSync(join(dir, 'lib/b'), `dead ${i} b\n`);
    writeFileSync(join(dir, 'README'), `path ${i}\n`);
  });
  const live = sourceTrees('live', 100, (dir, i) => writeFileSync(join(dir, 'keep'), `live ${i}\n`));
  addAll(template, dead);
  const kept = addAll(template, live);
  for (const [i, p] of kept.entries()) symlinkSync(p, join(template, 'nix/var/nix/gcroots', `live${i}`));
  const nix = copyFresh(template, 'nix');
  const ts = copyFresh(template, 'tsnix');
  return sideBySide(
    'gc of 10,000 dead paths',
    reps,
    `nix-store --store ${nix.root} --gc`,
    `${tsnixStore} --store ${ts.root} --gc`,
    (who) => (who === 'nix' ? nix.setup : ts.setup),
  );
}

function rootsWorkload(): Row {
  const template = join(work, 'roots-template');
  const trees = sourceTrees('rooted', 1000, (dir, i) => writeFileSync(join(dir, 'f'), `rooted ${i}\n`));
  const paths = addAll(template, trees);
  const gcroots = join(template, 'nix/var/nix/gcroots');
  const results = join(work, 'results');
  mkdirSync(join(gcroots, 'auto'), { recursive: true });
  mkdirSync(results, { recursive: true });
  for (const [i, p] of paths.entries()) {
    if (i < 600) {
      symlinkSync(p, join(gcroots, `direct${i}`));
    } else if (i < 800) {
      symlinkSync(p, join(results, `result${i}`));
      symlinkSync(join(results, `result${i}`), join(gcroots, 'auto', `auto${i}`));
    } else {
      writeFileSync(join(gcroots, p.slice('/nix/store/'.length)), '');
    }
  }
  // Read-only: the same store serves both tools.
  return sideBySide('--gc --print-roots, 1,000 roots', reps, `nix-store --store ${template} --gc --print-roots`, `${tsnixStore} --store ${template} --gc --print-roots`);
}

function optimiseWorkload(): Row {
  const template = join(work, 'optimise-template');
  const shared = Array.from({ length: 10 }, (_, f) => Buffer.alloc(2048 + f * 512, 65 + f));
  const trees = sourceTrees('opt', 2000, (dir, i) => {
    mkdirSync(join(dir, 'share'));
    shared.forEach((content, f) => writeFileSync(join(dir, 'share', `s${f}`), content));
    writeFileSync(join(dir, 'own1'), `own ${i} 1\n`);
    writeFileSync(join(dir, 'own2'), `own ${i} 2\n`.repeat(100));
  });
  addAll(template, trees);
  const nix = copyFresh(template, 'nix');
  const ts = copyFresh(template, 'tsnix');
  return sideBySide(
    '--optimise, 2,000 paths sharing files',
    reps,
    `nix-store --store ${nix.root} --optimise`,
    `${tsnixStore} --store ${ts.root} --optimise`,
    (who) => (who === 'nix' ? nix.setup : ts.setup),
  );
}

try {
  mkdirSync(work, { recursive: true });
  const rows: Row[] = [];
  if (!only || only === 'gc') rows.push(gcWorkload());
  if (!only || only === 'roots') rows.push(rootsWorkload());
  if (!only || only === 'optimise') rows.push(optimiseWorkload());
  printRows(rows);
  const roots = rows.find((r) => r.name.startsWith('--gc --print-roots'));
  if (roots) {
    // The floor of any tsnix command: Node's own start, with no work at all.
    const nodeStart = median(time(`${process.execPath} -e 0`, undefined, Math.max(reps, 3)));
    const version = median(time(`${tsnixStore} --version`, undefined, Math.max(reps, 3)));
    console.log(`  Node's start: 'node -e 0' ${nodeStart.toFixed(3)} s, 'tsnix-store --version' ${version.toFixed(3)} s; half of nix's --print-roots is ${(median(roots.nix) / 2).toFixed(3)} s`);
  }
} finally {
  sh(`chmod -R u+w ${work} 2>/dev/null || true`);
  rmSync(work, { recursive: true, force: true });
}
