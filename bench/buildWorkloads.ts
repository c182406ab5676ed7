/**
 * The build benchmark's workloads: for each shared derivation graph (wide, deep, tree), a
 * template store root that holds busybox and the `.drv` files but no outputs, made with real
 * Nix once. Both tools use Nix's database schema, so each rep starts from a copy of it.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';

export const SHAPES = ['wide', 'deep', 'tree'] as const;
export type Shape = (typeof SHAPES)[number];

export interface Workload {
  shape: Shape;
  /** A store root with busybox and every `.drv` of the graph registered, and no output. */
  template: string;
  topDrv: string;
  topOut: string;
  /** The name the top derivation's builder writes first into its output. */
  topName: string;
  /** Every output of every derivation in the top's closure: all must be valid after a build. */
  outputs: string[];
  drvCount: number;
}

function nix(program: string, args: string[]): string {
  const r = spawnSync(program, args, { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`${program} ${args.join(' ')} failed (exit ${r.status}): ${r.stderr.slice(-800)}`);
  return r.stdout;
}

const lines = (text: string): string[] => text.split('\n').filter((l) => l !== '');

/**
 * The shared `.nix` files name the busybox path of the machine that wrote them. Ours is
 * added the same way (a directory `nixbench-bbsrc` holding `bin/busybox`), and the
 * expression is copied with that path replaced, so a different busybox still works.
 */
function addBusybox(template: string, workDir: string, busybox: string): string {
  const dir = join(workDir, 'bbsrc', 'nixbench-bbsrc');
  rmSync(join(workDir, 'bbsrc'), { recursive: true, force: true });
  mkdirSync(join(dir, 'bin'), { recursive: true });
  copyFileSync(busybox, join(dir, 'bin', 'busybox'));
  chmodSync(join(dir, 'bin', 'busybox'), 0o755);
  return nix('nix-store', ['--store', template, '--add', dir]).trim();
}

export function prepareWorkload(shape: Shape, workDir: string, workloadsDir: string, busybox: string): Workload {
  const template = join(workDir, `template-${shape}`);
  rmSync(template, { recursive: true, force: true });
  mkdirSync(workDir, { recursive: true });
  const busyboxPath = addBusybox(template, workDir, busybox);
  const sharedBusyboxPath = readFileSync(join(workloadsDir, 'busybox.path'), 'utf8').trim();
  const expr = readFileSync(join(workloadsDir, `${shape}.nix`), 'utf8');
  if (!expr.includes(sharedBusyboxPath)) throw new Error(`${workloadsDir}/${shape}.nix does not name ${sharedBusyboxPath} (busybox.path)`);
  const exprFile = join(workDir, `${shape}.nix`);
  writeFileSync(exprFile, expr.replaceAll(sharedBusyboxPath, busyboxPath));

  const topDrv = nix('nix-instantiate', ['--store', template, exprFile]).trim();
  const drvs = lines(nix('nix-store', ['--store', template, '-qR', topDrv])).filter((p) => p.endsWith('.drv'));
  const outputs = lines(nix('nix-store', ['--store', template, '-q', '--outputs', ...drvs]));
  const topOut = lines(nix('nix-store', ['--store', template, '-q', '--outputs', topDrv]))[0]!;
  // A template that already holds an output would let either tool skip builds.
  const invalid = lines(nix('nix-store', ['--store', template, '--check-validity', '--print-invalid', ...outputs]));
  if (invalid.length !== outputs.length) throw new Error(`template ${template} already holds ${outputs.length - invalid.length} outputs`);
  const topName = basename(topDrv, '.drv').slice(33);
  return { shape, template, topDrv, topOut, topName, outputs, drvCount: drvs.length };
}

/**
 * Throws unless every output of the graph is valid in `root` and the top output holds what
 * its builder writes, so a run that skipped or faked builds cannot pass as fast.
 */
export function checkBuilt(root: string, workload: Workload): void {
  const invalid = lines(nix('nix-store', ['--store', root, '--check-validity', '--print-invalid', ...workload.outputs]));
  if (invalid.length > 0) throw new Error(`${invalid.length} of ${workload.outputs.length} outputs are not valid in ${root}, e.g. ${invalid[0]}`);
  const content = readFileSync(join(root, workload.topOut), 'utf8');
  if (!content.startsWith(`${workload.topName} `) && content.trim() !== workload.topName) {
    throw new Error(`${workload.topOut} in ${root} holds ${JSON.stringify(content.slice(0, 80))}, not what its builder writes`);
  }
}
