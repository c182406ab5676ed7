/**
 * Worker side of the pool: reads a path once, as its NAR, hashing it and scanning it
 * for references in the same pass.
 */
import { createHash } from 'node:crypto';
import { ReferenceScanner } from '../format/references.js';
import { dumpPath } from '../store/nar/dumpPath.js';
import type { HashPathResult, HashPathTask } from './tasks.js';

export async function hashPath(task: HashPathTask): Promise<HashPathResult> {
  const hasher = createHash('sha256');
  const scanner = task.hashParts.length > 0 ? new ReferenceScanner(task.hashParts) : undefined;
  let narSize = 0;
  for await (const chunk of dumpPath(task.realPath, { useCaseHack: task.useCaseHack })) {
    hasher.update(chunk);
    scanner?.update(chunk);
    narSize += chunk.length;
  }
  return { narHash: hasher.digest('hex'), narSize, foundHashParts: scanner ? [...scanner.result()].sort() : [] };
}
