/**
 * The worker pool. Hashing and scanning are CPU-bound, so they run on worker threads
 * while the main thread keeps scheduling; one pool per process, started on first use.
 */
import { availableParallelism } from 'node:os';
import { Piscina } from 'piscina';
import { Hash } from '../format/hash.js';
import type { HashPathResult, HashPathTask } from './tasks.js';

let pool: Piscina<HashPathTask, HashPathResult> | undefined;

function getPool(): Piscina<HashPathTask, HashPathResult> {
  pool ??= new Piscina({
    filename: new URL('./hashPathWorker.js', import.meta.url).href,
    name: 'hashPath',
    maxThreads: Math.max(1, availableParallelism()),
    // Idle workers exit so that a short CLI run is not kept alive by the pool.
    idleTimeout: 200,
  });
  return pool;
}

export interface PathHashes {
  narHash: Hash;
  narSize: number;
  foundHashParts: string[];
}

/** NAR hash, NAR size and found references of one path, computed on a worker thread. */
export async function hashPathInPool(realPath: string, hashParts: string[] = [], useCaseHack = false): Promise<PathHashes> {
  const result = await getPool().run({ realPath, hashParts, useCaseHack }, { name: 'hashPath' });
  return { narHash: new Hash('sha256', Buffer.from(result.narHash, 'hex')), narSize: result.narSize, foundHashParts: result.foundHashParts };
}

export async function closePool(): Promise<void> {
  const p = pool;
  pool = undefined;
  if (p) await p.destroy();
}
