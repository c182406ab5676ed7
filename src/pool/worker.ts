/**
 * The pool's worker module: each exported function is a task, run by name. Results
 * cross the thread boundary as plain data (hashes as base16).
 */
import { copyPathHere, hashFilesHere, hashPathHere } from '../store/pathHashing.js';
import { canonicaliseAndHashHere } from '../store/canonicalise.js';
import { deletePathSync } from '../store/deletePath.js';
import type { CopyPathResult, CopyPathTask, HashPathResult, HashPathTask, RegisterOutputTask, DeleteTreeTask, HashFilesTask } from './tasks.js';

export async function hashPath(task: HashPathTask): Promise<HashPathResult> {
  const r = await hashPathHere(task.realPath, task.hashParts, task.useCaseHack);
  return { narHash: r.narHash.toBase16(), narSize: r.narSize, foundHashParts: r.foundHashParts };
}

export async function copyPath(task: CopyPathTask): Promise<CopyPathResult> {
  const r = await copyPathHere(task.source, task.target, task.useCaseHack, task.extraNarHashAlgo);
  return { narHash: r.narHash.toBase16(), narSize: r.narSize, extraNarHash: r.extraNarHash?.toBase16() };
}

/** A build output: canonical metadata first, then its NAR hash and references in one read. */
export async function registerOutput(task: RegisterOutputTask): Promise<HashPathResult> {
  const r = await canonicaliseAndHashHere(task);
  return { narHash: r.narHash.toBase16(), narSize: r.narSize, foundHashParts: r.foundHashParts };
}

export function deleteTree(task: DeleteTreeTask): void {
  deletePathSync(task.path);
}

/** `.links` names of regular files, for optimisation. */
export function hashFiles(task: HashFilesTask): Promise<string[]> {
  return hashFilesHere(task.files);
}
