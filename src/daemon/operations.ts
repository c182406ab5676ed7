/**
 * The operations tsnix-daemon serves, by opcode. Each reads its arguments (an error there
 * closes the connection) and returns the work, which ends with the reply.
 */
import { HASH_PART_LENGTH } from '../format/storePath.js';
import { WireWriter } from '../format/wire.js';
import { queryDerivationOutputs, queryValidDerivers } from '../store/derivers.js';
import { dumpPath } from '../store/nar/index.js';
import { PathNotValidError } from '../store/dbErrors.js';
import { queryPathInfo, queryValidPaths } from '../store/queryPathInfo.js';
import { queryReferrers } from '../store/references.js';
import { CENSORED, findRoots, rootLinks } from '../store/roots.js';
import type { DaemonConnection } from './connection.js';
import { encodeLogLine, ProtocolError, writePathInfo } from './protocol.js';
import { queryMissing } from './queryMissing.js';
import { checkStorePath, readDerivedPaths, readPath, readPaths } from './readArgs.js';
import { ADD_OPERATIONS } from './addOperations.js';
import { BUILD_OPERATIONS } from './buildOperations.js';
import { BUILD_DERIVATION_OPERATIONS } from './buildDerivation.js';

export type Operation = (conn: DaemonConnection) => Promise<() => Promise<void>>;

const sorted = (paths: Iterable<string>): string[] => [...paths].sort();

const isValidPath: Operation = async (conn) => {
  const path = await readPath(conn);
  return () => conn.reply(new WireWriter().u64(conn.visible(path) ? queryValidPaths(conn.ctx.store.db, [path]).size : 0).toBuffer());
};

const queryPathInfoOp: Operation = async (conn) => {
  const path = await readPath(conn);
  return () => {
    const info = conn.visible(path) ? queryPathInfo(conn.ctx.store.db, path) : undefined;
    const w = new WireWriter().u64(info ? 1 : 0);
    if (info) writePathInfo(w, info, false);
    return conn.reply(w.toBuffer());
  };
};

const queryValidPathsOp: Operation = async (conn) => {
  const paths = await readPaths(conn);
  // Substituting the missing ones (the flag) is not served yet: the valid subset is the answer.
  await conn.reader.readU64();
  return () => conn.reply(new WireWriter().strings(sorted(queryValidPaths(conn.ctx.store.db, paths.filter((p) => conn.visible(p))))).toBuffer());
};

const queryAllValidPaths: Operation = async (conn) => () =>
  conn.reply(new WireWriter().strings(conn.ctx.store.db.columnStatement('select path from ValidPaths order by path').all() as string[]).toBuffer());

const queryReferrersOp: Operation = async (conn) => {
  const path = await readPath(conn);
  return () => {
    const db = conn.ctx.store.db;
    const referrers = queryValidPaths(db, [path]).size > 0 ? queryReferrers(db, path) : [];
    return conn.reply(new WireWriter().strings(sorted(referrers)).toBuffer());
  };
};

const queryPathFromHashPart: Operation = async (conn) => {
  const hashPart = await conn.reader.readString(256);
  return () => {
    const prefix = `${conn.ctx.store.storeDir}/${hashPart}`;
    // Nix's query: the first valid path at or after the prefix, if it has the prefix.
    const found = hashPart.length === HASH_PART_LENGTH
      ? (conn.ctx.store.db.columnStatement('select path from ValidPaths where path >= ? order by path limit 1').get(prefix) as string | undefined)
      : undefined;
    return conn.reply(new WireWriter().string(found?.startsWith(`${prefix}-`) ? found : '').toBuffer());
  };
};

const queryValidDeriversOp: Operation = async (conn) => {
  const path = await readPath(conn);
  return () => conn.reply(new WireWriter().strings(queryValidDerivers(conn.ctx.store.db, path)).toBuffer());
};

const queryDerivationOutputMap: Operation = async (conn) => {
  const drvPath = await readPath(conn);
  return () => {
    if (!conn.visible(drvPath)) throw new PathNotValidError(drvPath);
    const outputs = queryDerivationOutputs(conn.ctx.store.db, drvPath);
    const w = new WireWriter().u64(outputs.size);
    for (const [name, path] of outputs) w.string(name).string(path);
    return conn.reply(w.toBuffer());
  };
};

const addTempRoot: Operation = async (conn) => {
  const path = await readPath(conn);
  return async () => {
    // In the connection's own temp roots file: held until it ends, as nix-daemon's. A
    // recursive build's store roots what the build may see already; nothing more (as Nix).
    if (!conn.ctx.restriction) await conn.ctx.store.addTempRoot(path);
    await conn.reply(new WireWriter().u64(1).toBuffer());
  };
};

const syncWithGC: Operation = async (conn) => () => conn.reply(new WireWriter().u64(1).toBuffer());

const findRootsOp: Operation = async (conn) => () => {
  const { store, trusted } = conn.ctx;
  const pairs = rootLinks(findRoots(store.layout, store.db, { censor: !trusted }));
  const w = new WireWriter().u64(pairs.length);
  for (const [link, target] of pairs) w.string(trusted ? link : CENSORED).string(target);
  return conn.reply(w.toBuffer());
};

const narFromPath: Operation = async (conn) => {
  const path = await readPath(conn);
  return async () => {
    const { store } = conn.ctx;
    if (!conn.visible(path) || queryValidPaths(store.db, [path]).size === 0) throw new PathNotValidError(path);
    await conn.reply();
    for await (const chunk of dumpPath(store.layout.toReal(path), { useCaseHack: store.useCaseHack })) await conn.send(chunk);
  };
};

const querySubstitutablePaths: Operation = async (conn) => {
  await readPaths(conn);
  // No substituters are consulted through the daemon yet: none is substitutable.
  return () => conn.reply(new WireWriter().strings([]).toBuffer());
};

const querySubstitutablePathInfos: Operation = async (conn) => {
  const count = await conn.reader.readU64();
  if (count > 1 << 22) throw new ProtocolError(`a list of ${count} store paths is more than tsnix-daemon takes`);
  for (let i = 0; i < count; i++) {
    await readPath(conn);
    await conn.reader.readString(4096);
    conn.checkBudget();
  }
  return () => conn.reply(new WireWriter().u64(0).toBuffer());
};

const setOptions: Operation = async (conn) => {
  const fields: number[] = [];
  for (let i = 0; i < 12; i++) fields.push(await conn.reader.readU64());
  const count = await conn.reader.readU64();
  if (count > 4096) throw new ProtocolError(`${count} options are more than tsnix-daemon takes`);
  // Each SetOptions replaces the last (as nix's), within one request's budget.
  const overrides: [string, string][] = [];
  for (let i = 0; i < count; i++) {
    overrides.push([await conn.reader.readString(4096), await conn.reader.readString(1 << 20)]);
    conn.checkBudget();
  }
  return () => {
    const [keepFailed, keepGoing, tryFallback, , maxBuildJobs, maxSilentTime, , , , , buildCores, useSubstitutes] = fields as [number, number, number, number, number, number, number, number, number, number, number, number];
    // The fixed fields are every client's to set, as with nix-daemon.
    const settings = conn.ctx.store.settings.clone();
    settings.set('keep-failed', keepFailed ? 'true' : 'false', 'client');
    settings.set('keep-going', keepGoing ? 'true' : 'false', 'client');
    settings.set('fallback', tryFallback ? 'true' : 'false', 'client');
    settings.set('max-jobs', String(maxBuildJobs), 'client');
    settings.set('max-silent-time', String(maxSilentTime), 'client');
    settings.set('cores', String(buildCores), 'client');
    settings.set('substitute', useSubstitutes ? 'true' : 'false', 'client');
    for (const [name, value] of overrides) {
      const refusal = clientOptionRefusal(conn, name, value);
      if (refusal !== undefined) {
        conn.sendNow(encodeLogLine(`warning: ${refusal}`));
        continue;
      }
      try {
        settings.set(name, value, 'client');
      } catch (e) {
        // A setting tsnix does not know (or a bad value) is ignored, as nix-daemon ignores them.
        conn.sendNow(encodeLogLine(`warning: ${(e as Error).message}`));
      }
    }
    conn.settings = settings;
    return conn.reply();
  };
};

/** Settings an untrusted client may give, as nix-daemon's SetOptions allows them. */
const UNTRUSTED_OPTIONS = new Set(['build-timeout', 'timeout', 'connect-timeout', 'max-silent-time', 'build-max-silent-time', 'keep-going', 'keep-failed', 'fallback', 'max-jobs', 'cores']);

/** Why a client may not set `name` to `value`, or undefined when it may. */
function clientOptionRefusal(conn: DaemonConnection, name: string, value: string): string | undefined {
  // Never the client's: these change what the daemon trusts or runs as.
  if (name === 'experimental-features' || name === 'plugin-files') return `ignoring the client-specified setting '${name}'`;
  if (conn.ctx.trusted) return undefined;
  if (UNTRUSTED_OPTIONS.has(name)) return undefined;
  if (name === 'substituters' || name === 'binary-caches' || name === 'extra-substituters') {
    const allowed = new Set([...conn.ctx.store.settings.strings('substituters'), ...conn.ctx.store.settings.strings('trusted-substituters')]);
    const asked = value.split(/\s+/).filter((s) => s !== '');
    const refused = asked.filter((s) => !allowed.has(s));
    if (refused.length === 0) return undefined;
    return `ignoring untrusted substituter '${refused[0]}', you are not a trusted user`;
  }
  return `ignoring the client-specified setting '${name}', because it is a restricted setting and you are not a trusted user`;
}

const queryMissingOp: Operation = async (conn) => {
  const targets = await readDerivedPaths(conn);
  for (const target of targets) checkStorePath(target.split('!')[0]!, conn.ctx.store.storeDir);
  return () => {
    // What a recursive build may not see is unknown to it.
    const hidden = targets.filter((t) => !conn.visible(t.split('!')[0]!));
    const { willBuild, willSubstitute, unknown } = queryMissing(
      conn.ctx.store,
      targets.filter((t) => conn.visible(t.split('!')[0]!)),
      (path) => conn.visible(path),
    );
    for (const target of hidden) unknown.add(target.split('!')[0]!);
    return conn.reply(new WireWriter().strings(sorted(willBuild)).strings(sorted(willSubstitute)).strings(sorted(unknown)).u64(0).u64(0).toBuffer());
  };
};

export const OPERATIONS: ReadonlyMap<number, Operation> = new Map<number, Operation>([
  [1, isValidPath],
  [6, queryReferrersOp],
  [11, addTempRoot],
  [13, syncWithGC],
  [14, findRootsOp],
  [19, setOptions],
  [23, queryAllValidPaths],
  [26, queryPathInfoOp],
  [29, queryPathFromHashPart],
  [30, querySubstitutablePathInfos],
  [31, queryValidPathsOp],
  [32, querySubstitutablePaths],
  [33, queryValidDeriversOp],
  [38, narFromPath],
  [40, queryMissingOp],
  [41, queryDerivationOutputMap],
  ...ADD_OPERATIONS,
  ...BUILD_OPERATIONS,
  ...BUILD_DERIVATION_OPERATIONS,
]);
