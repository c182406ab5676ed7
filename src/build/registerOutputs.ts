/**
 * Turning what a builder left at the output paths into valid store paths (DESIGN.md, "How a
 * build flows", step 4): canonical metadata and, for builds without a sandbox, the ownership
 * check; NAR hash and reference scan in one read on the pool (small outputs here); the derivation's reference
 * rules and fixed-output hashes. Registering is the caller's: one transaction for all outputs.
 */
import { renderContentAddress } from '../format/contentAddress.js';
import type { Derivation } from '../format/derivation/index.js';
import { lstatSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { registerOutputInPool } from '../pool/pool.js';
import type { RegisterOutputTask } from '../pool/tasks.js';
import { canonicaliseAndHashSmall } from '../store/canonicalise.js';
import type { PathHashes } from '../store/pathHashing.js';
import { parseStorePath } from '../format/storePath.js';
import { computeClosure } from '../store/closure.js';
import type { LocalStore } from '../store/localStore.js';
import { makePathInfo, type ValidPathInfo } from '../store/pathInfo.js';
import { BuildError } from './errors.js';
import { actualFixedHash, checkReferenceRules, fixedOutputOf, hashMismatchError } from './outputChecks.js';

export interface BuiltOutputs {
  drvPath: string;
  drv: Derivation;
  /** Output name -> logical store path. */
  outputs: ReadonlyMap<string, string>;
  /** Output name -> where it is on disk now (its real store location, or a `--check` copy). */
  locations: ReadonlyMap<string, string>;
  /** Logical paths the build could see: the candidates for references besides the outputs. */
  inputClosure: ReadonlySet<string>;
  /** Outputs of a build without a sandbox must be owned by this uid throughout. */
  requireOwner?: number;
}

/**
 * Outputs at most this big are canonicalised and hashed on this thread: for a few small files
 * a trip to a worker thread costs more than the work itself (most builds in a large graph make
 * outputs like that).
 */
const INLINE_ENTRIES = 32;
const INLINE_BYTES = 256 * 1024;

function isSmallTree(root: string): boolean {
  let entries = 0;
  let bytes = 0;
  const pending = [root];
  try {
    while (pending.length > 0) {
      const path = pending.pop()!;
      const stat = lstatSync(path);
      if (++entries > INLINE_ENTRIES || (bytes += stat.size) > INLINE_BYTES) return false;
      if (stat.isDirectory()) for (const name of readdirSync(path)) pending.push(join(path, name));
    }
  } catch (error) {
    // A directory it cannot list yet (mode 000): leave it to the pool, which canonicalises first.
    if ((error as NodeJS.ErrnoException).code === 'EACCES') return false;
    throw error;
  }
  return true;
}

async function canonicaliseAndHash(task: RegisterOutputTask): Promise<PathHashes> {
  return isSmallTree(task.realPath) ? canonicaliseAndHashSmall(task) : registerOutputInPool(task);
}

/** Checks and hashes every output; returns their path infos, in output-name order. Throws BuildError. */
export async function prepareOutputs(store: LocalStore, built: BuiltOutputs): Promise<ValidPathInfo[]> {
  const { drvPath, drv, outputs, locations } = built;
  const candidates = new Map<string, string>();
  for (const path of [...built.inputClosure, ...outputs.values()]) candidates.set(parseStorePath(path, store.storeDir).hashPart, path);
  const owner = { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 };
  const names = [...outputs.keys()].sort();
  for (const name of names) {
    if (!locations.has(name)) throw new BuildError(`builder for '${drvPath}' failed to produce output path for output '${name}' at '${outputs.get(name)}'`, 'build');
  }
  const hashed = await Promise.all(
    names.map(async (name) => {
      try {
        return await canonicaliseAndHash({
          realPath: locations.get(name)!,
          ...(built.requireOwner !== undefined ? { requireOwner: built.requireOwner } : {}),
          owner,
          hashParts: [...candidates.keys()],
        });
      } catch (error) {
        // The worker's refusals (ownership, file types) keep their message but not their class.
        throw new BuildError(`output '${outputs.get(name)}' of '${drvPath}' cannot be registered: ${(error as Error).message}`, 'build');
      }
    }),
  );
  const infos = new Map<string, ValidPathInfo>();
  for (const [i, name] of names.entries()) {
    const path = outputs.get(name)!;
    const { narHash, narSize, foundHashParts } = hashed[i]!;
    const references = foundHashParts.map((h) => candidates.get(h)!).sort();
    const tuple = drv.outputs.get(name);
    const fixed = tuple ? fixedOutputOf(tuple.hashAlgo, tuple.hash) : undefined;
    let ca: string | undefined;
    if (fixed) {
      const got = await actualFixedHash(fixed, locations.get(name)!, path, narHash);
      if (!got.equals(fixed.expected)) throw hashMismatchError(drvPath, fixed.expected, got);
      if (references.length > 0) throw new BuildError(`illegal path references in fixed-output derivation '${drvPath}'`, 'build');
      ca = renderContentAddress({ method: fixed.method, hash: got });
    }
    infos.set(name, makePathInfo({ path, narHash, narSize, references, deriver: drvPath, ultimate: true, ...(ca ? { ca } : {}) }));
  }
  for (const info of infos.values()) {
    checkReferenceRules(store.storeDir, drv.env, outputs, info.path, info.references, () => requisites(store, info, infos));
  }
  return names.map((name) => infos.get(name)!);
}

/** The closure of a not yet valid output: its sibling outputs' references, then the database. */
function requisites(store: LocalStore, info: ValidPathInfo, siblings: ReadonlyMap<string, ValidPathInfo>): Set<string> {
  const byPath = new Map([...siblings.values()].map((i) => [i.path, i]));
  const closure = new Set<string>();
  const pending = [info.path];
  const valid: string[] = [];
  while (pending.length > 0) {
    const path = pending.pop()!;
    if (closure.has(path)) continue;
    const sibling = byPath.get(path);
    if (sibling) {
      closure.add(path);
      pending.push(...sibling.references);
    } else {
      valid.push(path);
    }
  }
  for (const path of computeClosure(store.db, valid)) closure.add(path);
  return closure;
}
