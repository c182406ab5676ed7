/**
 * The worker pool. Reading, hashing and scanning paths are CPU- and syscall-bound, so
 * they run on worker threads while the main thread keeps scheduling; several paths are
 * processed at once, one per core. One pool per process, started on first use.
 */
import { availableParallelism } from 'node:os';
import type { Piscina } from 'piscina';
import { Hash, type HashAlgo } from '../format/hash.js';
import type { CopiedPath, PathHashes, PathHashing } from '../store/pathHashing.js';
import type { OptimiseResult, OptimiseTask, PathOptimising } from '../store/optimise.js';
import type { TreeDeleting } from '../store/deletePath.js';
import type { CopyPathResult, CopyPathTask, DeleteTreesTask, HashPathResult, HashPathTask, PlaceFileTask, RegisterOutputTask } from './tasks.js';
import { compiledModule } from '../packagePaths.js';

let pool: Promise<Piscina> | undefined;

export function poolSize(): number {
  return Math.max(1, availableParallelism());
}

/** piscina is loaded with the pool (~15 ms), so that a command that never hashes does not pay for it. */
function getPool(): Promise<Piscina> {
  pool ??= import('piscina').then(
    ({ Piscina }) =>
      new Piscina({
        filename: compiledModule('pool/worker.js').href,
        maxThreads: poolSize(),
        // Idle workers exit so that a short CLI run is not kept alive by the pool.
        idleTimeout: 200,
      }),
  );
  return pool;
}

/** One task on the pool. */
async function runInPool(task: object, name: string): Promise<unknown> {
  return (await getPool()).run(task, { name });
}

/** NAR hash, NAR size and found references of one path, computed on a worker thread. */
export async function hashPathInPool(realPath: string, hashParts: string[] = [], useCaseHack = false): Promise<PathHashes> {
  const task: HashPathTask = { realPath, hashParts, useCaseHack };
  const result = (await runInPool(task, 'hashPath')) as HashPathResult;
  return { narHash: new Hash('sha256', Buffer.from(result.narHash, 'hex')), narSize: result.narSize, foundHashParts: result.foundHashParts };
}

/** Copies `source` to `target` on a worker thread, hashing its NAR in the same read. */
export async function copyPathInPool(source: string, target: string, useCaseHack: boolean, extraNarHashAlgo?: HashAlgo): Promise<CopiedPath> {
  const task: CopyPathTask = { source, target, useCaseHack, extraNarHashAlgo };
  const result = (await runInPool(task, 'copyPath')) as CopyPathResult;
  return {
    narHash: new Hash('sha256', Buffer.from(result.narHash, 'hex')),
    narSize: result.narSize,
    extraNarHash: extraNarHashAlgo && result.extraNarHash ? new Hash(extraNarHashAlgo, Buffer.from(result.extraNarHash, 'hex')) : undefined,
  };
}

/**
 * Canonicalises a build output and hashes it on a worker thread. The worker's errors
 * (refused ownership, unsupported file types) arrive with their messages intact.
 */
export async function registerOutputInPool(task: RegisterOutputTask): Promise<PathHashes> {
  const result = (await runInPool(task, 'registerOutput')) as HashPathResult;
  return { narHash: new Hash('sha256', Buffer.from(result.narHash, 'hex')), narSize: result.narSize, foundHashParts: result.foundHashParts };
}

/**
 * Deletes a tree on a worker thread. A finished sandbox's directories can take milliseconds
 * each to remove while the kernel tears down its mount namespace; the scheduler need not wait.
 */
export async function deleteTreeInPool(path: string): Promise<void> {
  await runInPool({ path }, 'deleteTree');
}

/**
 * Writes a small file at `temporary` and renames it to `path` on a worker thread: one trip
 * there instead of a trip to libuv's threads for each of the five calls. Files asked for
 * within PLACE_BATCH_MS go in one trip (a chain of builds stores a log every few ms, and a
 * trip costs the main thread ~0.2 ms).
 */
export async function placeFileInPool(task: PlaceFileTask): Promise<void> {
  if (!placeBatch) {
    const batch: PlaceBatch = { tasks: [], done: Promise.resolve([]) };
    placeBatch = batch;
    batch.done = new Promise<void>((resolve) => setTimeout(resolve, PLACE_BATCH_MS)).then(async () => {
      placeBatch = undefined;
      return (await runInPool(batch.tasks, 'placeFiles')) as (string | null)[];
    });
  }
  const batch = placeBatch;
  const index = batch.tasks.push(task) - 1;
  const failure = (await batch.done)[index];
  if (failure) throw new Error(failure);
}

const PLACE_BATCH_MS = 20;
interface PlaceBatch {
  tasks: PlaceFileTask[];
  done: Promise<(string | null)[]>;
}
let placeBatch: PlaceBatch | undefined;

/** Deletes trees on a worker thread; resolves with the bytes freed. */
export async function deleteTreesInPool(paths: readonly string[], trusted: boolean): Promise<number> {
  const task: DeleteTreesTask = { paths: [...paths], trusted };
  return (await runInPool(task, 'deleteTrees')) as number;
}

/** Starts the pool (its first thread) ahead of the work; a failure to start shows with the first task. */
function warmUp(): void {
  getPool().catch(() => undefined);
}

/** The store's deleting service, on the pool. */
export const poolDeleting: TreeDeleting = { deleteTrees: deleteTreesInPool, prepare: warmUp };

/** The store's hashing service, on the pool. */
export const poolHashing: PathHashing = { hashPath: hashPathInPool, copyPath: copyPathInPool };

/** Optimises store paths on a worker thread. */
export async function optimisePathsInPool(task: OptimiseTask): Promise<OptimiseResult> {
  return (await runInPool(task, 'optimisePaths')) as OptimiseResult;
}

/** The store's optimising service, on the pool. */
export const poolOptimising: PathOptimising = { optimisePaths: optimisePathsInPool, prepare: warmUp };

export async function closePool(): Promise<void> {
  const p = pool;
  pool = undefined;
  if (p) await (await p).destroy();
}
