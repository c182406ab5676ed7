/**
 * The pool's worker module: each exported function is a task, run by name. Results
 * cross the thread boundary as plain data (hashes as base16). What a task needs is loaded
 * with its first run, so that a worker that only deletes never compiles the NAR code.
 */
import { deletePathSync, deleteTreesSync } from '../store/deletePath.js';
import { mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { CopyPathResult, CopyPathTask, HashPathResult, HashPathTask, RegisterOutputTask, DeleteTreeTask, DeleteTreesTask, PlaceFileTask } from './tasks.js';
import type { OptimiseResult, OptimiseTask } from '../store/optimise.js';

const hashing = (): Promise<typeof import('../store/pathHashing.js')> => import('../store/pathHashing.js');

export async function hashPath(task: HashPathTask): Promise<HashPathResult> {
  const r = await (await hashing()).hashPathHere(task.realPath, task.hashParts, task.useCaseHack);
  return { narHash: r.narHash.toBase16(), narSize: r.narSize, foundHashParts: r.foundHashParts };
}

export async function copyPath(task: CopyPathTask): Promise<CopyPathResult> {
  const r = await (await hashing()).copyPathHere(task.source, task.target, task.useCaseHack, task.extraNarHashAlgo);
  return { narHash: r.narHash.toBase16(), narSize: r.narSize, extraNarHash: r.extraNarHash?.toBase16() };
}

/** A build output: canonical metadata first, then its NAR hash and references in one read. */
export async function registerOutput(task: RegisterOutputTask): Promise<HashPathResult> {
  const { canonicaliseAndHashHere } = await import('../store/canonicalise.js');
  const r = await canonicaliseAndHashHere(task);
  return { narHash: r.narHash.toBase16(), narSize: r.narSize, foundHashParts: r.foundHashParts };
}

export function deleteTree(task: DeleteTreeTask): void {
  deletePathSync(task.path);
}

/** Store paths linked through `.links/`. */
export async function optimisePaths(task: OptimiseTask): Promise<OptimiseResult> {
  return (await import('../store/optimise.js')).optimisePathsSync(task);
}

/** Garbage (in the collector's trash): the bytes freed. */
export function deleteTrees(task: DeleteTreesTask): number {
  return deleteTreesSync(task.paths, task.trusted);
}

/** Small files put in place atomically (build logs); for each, the message of its failure or null. */
export function placeFiles(tasks: PlaceFileTask[]): (string | null)[] {
  return tasks.map((task) => {
    try {
      placeFile(task);
      return null;
    } catch (error) {
      return (error as Error).message;
    }
  });
}

/** A small file put in place atomically (a build log). */
function placeFile(task: PlaceFileTask): void {
  try {
    writeFileSync(task.temporary, task.content, { mode: task.mode });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    mkdirSync(dirname(task.temporary), { recursive: true });
    writeFileSync(task.temporary, task.content, { mode: task.mode });
  }
  renameSync(task.temporary, task.path);
  if (task.remove !== undefined) rmSync(task.remove, { force: true });
}
