/** Shared pieces of the benchmarks: timing commands side by side and printing ratios. */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
export const tsnixStore = `${repoRoot}bin/tsnix-store`;

/**
 * The environment of timed commands. NODE_EXTRA_CA_CERTS (set on the build machines) makes
 * every node start read a certificate bundle, ~45 ms that says nothing about tsnix; nix does
 * not read it, so it is dropped for both sides.
 */
const benchEnv: NodeJS.ProcessEnv = { ...process.env };
delete benchEnv['NODE_EXTRA_CA_CERTS'];

/** The value after `name` on the command line (`--reps 5`), or undefined. */
export function flag(name: string, argv: readonly string[] = process.argv.slice(2)): string | undefined {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
}

export function sh(command: string): void {
  const r = spawnSync('bash', ['-c', command], { stdio: ['ignore', 'ignore', 'inherit'] });
  if (r.status !== 0) throw new Error(`benchmark step failed (exit ${r.status}): ${command}`);
}

/** Runs `setup` (untimed) then `command` (timed), `reps` times; returns seconds per rep. */
export function time(command: string, setup: string | undefined, reps: number): number[] {
  const times: number[] = [];
  for (let i = 0; i < reps; i++) {
    if (setup) sh(setup);
    const start = process.hrtime.bigint();
    const r = spawnSync('bash', ['-c', command], { stdio: ['ignore', 'ignore', 'pipe'], env: benchEnv });
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    if (r.status !== 0) throw new Error(`benchmark command failed (exit ${r.status}): ${command}\n${r.stderr.toString().slice(-600)}`);
    times.push(seconds);
  }
  return times;
}

export function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

export interface Row {
  name: string;
  nix: number[];
  tsnix: number[];
}

/** Runs the nix and tsnix variants of one workload alternately, so both see the same machine state. */
export function sideBySide(name: string, reps: number, nix: string, tsnix: string, setup?: (who: 'nix' | 'tsnix') => string): Row {
  const row: Row = { name, nix: [], tsnix: [] };
  for (let i = 0; i < reps; i++) {
    row.nix.push(...time(nix, setup?.('nix'), 1));
    row.tsnix.push(...time(tsnix, setup?.('tsnix'), 1));
  }
  return row;
}

export function printRows(rows: Row[]): void {
  const fmt = (s: number): string => s.toFixed(3).padStart(8);
  console.log(`${'workload'.padEnd(34)} ${'nix (s)'.padStart(8)} ${'tsnix (s)'.padStart(9)}  tsnix/nix`);
  for (const r of rows) {
    const n = median(r.nix);
    const t = median(r.tsnix);
    console.log(`${r.name.padEnd(34)} ${fmt(n)} ${fmt(t).padStart(9)}  ${(t / n).toFixed(2)}x   (medians of ${r.nix.length}; all nix ${r.nix.map((x) => x.toFixed(3)).join('/')}, tsnix ${r.tsnix.map((x) => x.toFixed(3)).join('/')})`);
  }
}
