/**
 * Making paths valid: one transaction that inserts (or updates) the `ValidPaths` rows of a
 * batch, then its `Refs`, then the `DerivationOutputs` of its `.drv` paths. Either the whole
 * batch becomes valid or nothing changes.
 */
import { FormatError } from '../format/errors.js';
import { isDerivationPath, parseStorePath } from '../format/storePath.js';
import { topoSort } from './closure.js';
import type { StoreDatabase } from './database.js';
import { RegistrationError } from './dbErrors.js';
import { caMatchesPath, pathInfoColumns, type ValidPathInfo } from './pathInfo.js';
import { queryPathId } from './queryPathInfo.js';

/** drv path → (output name → output path), computed by the caller from the parsed `.drv`. */
export type DerivationOutputMap = ReadonlyMap<string, ReadonlyMap<string, string>>;

function checkInfo(info: ValidPathInfo, storeDir: string): void {
  const fail = (why: string): never => {
    throw new RegistrationError(`cannot register path '${info.path}': ${why}`);
  };
  try {
    parseStorePath(info.path, storeDir);
    for (const ref of info.references) parseStorePath(ref, storeDir);
    if (info.deriver) parseStorePath(info.deriver, storeDir);
  } catch (e) {
    if (e instanceof FormatError) fail(e.message);
    throw e;
  }
  if (info.narHash.algo !== 'sha256') fail(`its NAR hash must be sha256, not ${info.narHash.algo}`);
  if (!Number.isSafeInteger(info.narSize) || info.narSize < 0) fail(`invalid NAR size ${info.narSize}`);
  if (info.ca) {
    let matches = false;
    try {
      matches = caMatchesPath(info, storeDir);
    } catch (e) {
      if (e instanceof FormatError) fail(`invalid content address '${info.ca}': ${e.message}`);
      throw e;
    }
    if (!matches) {
      throw new RegistrationError(
        `cannot add path '${info.path}' to the Nix store because it claims to be content-addressed but isn't`,
      );
    }
  }
}

function checkBatch(db: StoreDatabase, infos: readonly ValidPathInfo[], outputs: DerivationOutputMap): Map<string, ValidPathInfo> {
  const byPath = new Map<string, ValidPathInfo>();
  for (const info of infos) {
    if (byPath.has(info.path)) throw new RegistrationError(`path '${info.path}' appears twice in one registration`);
    checkInfo(info, db.storeDir);
    byPath.set(info.path, info);
  }
  for (const [drvPath, outs] of outputs) {
    if (!isDerivationPath(drvPath)) throw new RegistrationError(`cannot record outputs of '${drvPath}': it is not a derivation`);
    for (const outPath of outs.values()) {
      try {
        parseStorePath(outPath, db.storeDir);
      } catch (e) {
        if (e instanceof FormatError) throw new RegistrationError(`cannot record outputs of '${drvPath}': ${e.message}`);
        throw e;
      }
    }
  }
  // Outputs of one build can only refer to each other in one direction; a cycle is corrupt.
  topoSort(byPath.keys(), (path) => byPath.get(path)!.references);
  return byPath;
}

/**
 * Registers `infos` as valid. Each reference must be valid already or be in the batch.
 * A path that is valid already gets its NAR hash, size, ultimate flag, signatures and content
 * address updated (its references are added to, as Nix does). The files must already be in
 * place and canonicalised, and the caller must hold a temp root for each path.
 */
export function registerValidPaths(
  db: StoreDatabase,
  infos: readonly ValidPathInfo[],
  derivationOutputs: DerivationOutputMap = new Map(),
): void {
  const byPath = checkBatch(db, infos, derivationOutputs);
  const now = Math.floor(Date.now() / 1000);
  db.transaction(() => {
    const ids = new Map<string, number>();
    for (const info of byPath.values()) {
      const c = pathInfoColumns(info, now);
      const existing = queryPathId(db, info.path);
      if (existing !== undefined) {
        db.statement('update ValidPaths set narSize = ?, hash = ?, ultimate = ?, sigs = ?, ca = ? where path = ?')
          .run(c.narSize, c.hash, c.ultimate, c.sigs, c.ca, info.path);
        ids.set(info.path, existing);
      } else {
        const result = db
          .statement('insert into ValidPaths (path, hash, registrationTime, deriver, narSize, ultimate, sigs, ca) values (?, ?, ?, ?, ?, ?, ?, ?)')
          .run(info.path, c.hash, c.registrationTime, c.deriver, c.narSize, c.ultimate, c.sigs, c.ca);
        ids.set(info.path, Number(result.lastInsertRowid));
      }
    }
    const addRef = db.statement('insert or replace into Refs (referrer, reference) values (?, ?)');
    for (const info of byPath.values()) {
      for (const ref of info.references) {
        const refId = ids.get(ref) ?? queryPathId(db, ref);
        if (refId === undefined) {
          throw new RegistrationError(
            `cannot register path '${info.path}': its reference '${ref}' is not valid and not part of the same registration`,
          );
        }
        addRef.run(ids.get(info.path)!, refId);
      }
    }
    const addOutput = db.statement('insert or replace into DerivationOutputs (drv, id, path) values (?, ?, ?)');
    for (const [drvPath, outs] of derivationOutputs) {
      const drvId = ids.get(drvPath) ?? queryPathId(db, drvPath);
      if (drvId === undefined) {
        throw new RegistrationError(`cannot record outputs of '${drvPath}': it is not valid and not part of the registration`);
      }
      for (const [name, outPath] of outs) addOutput.run(drvId, name, outPath);
    }
  });
}
