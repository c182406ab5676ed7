/**
 * The operations that build, collect, optimise and verify through the daemon: BuildPaths
 * (what `nix-store -r` and `nix-build` send), EnsurePath, AddIndirectRoot (nix-build's
 * `result`), CollectGarbage, OptimiseStore, VerifyStore. Build output and messages reach the client as log lines.
 */
import { BuildCancelledError } from '../build/errors.js';
import type { Target } from '../build/targets.js';
import { WireWriter } from '../format/wire.js';
import { queryValidPaths, requirePathInfo } from '../store/queryPathInfo.js';
import { readDerivation } from '../store/readDerivation.js';
import { collectGarbage, type GcAction } from '../store/gc.js';
import { freedByLinkingLine, optimiseStore } from '../store/optimise.js';
import { addIndirectRoot } from '../store/roots.js';
import { verifyStore } from '../store/verifyStore.js';
import type { DaemonConnection } from './connection.js';
import { BUILD_STATUS, failureStatus, writeBuildResult } from './buildResult.js';
import { withClientScheduler } from './clientScheduler.js';
import { RestrictedPathError } from './restriction.js';
import type { RealiseResult } from '../build/scheduler.js';
import type { Derivation } from '../format/derivation/index.js';
import type { Operation } from './operations.js';
import { checkStorePath, derivedPathTarget, readBuildMode, readDerivedPaths, readPath, readPaths } from './readArgs.js';
import type { BuildMode } from '../build/buildStep.js';
import { FramedSource } from './framed.js';
import { BuildLogWriter } from '../build/buildLog.js';
import { encodeLogLine, ProtocolError } from './protocol.js';

/** Work that failed in a way the client is told about (the connection goes on). */
export class DaemonOperationError extends Error {
  override name = 'DaemonOperationError';
}

/**
 * Realises `targets` for the client. A recursive build's store builds only what the build
 * may see, and lets it see what was built (the outputs appear in its sandbox).
 */
async function realiseTargets(conn: DaemonConnection, targets: Target[], mode: BuildMode): Promise<RealiseResult> {
  const { restriction } = conn.ctx;
  // As Nix's: a recursive build's store builds, it neither checks nor repairs.
  if (restriction && mode !== 'normal') throw new RestrictedPathError(`${mode === 'check' ? 'checking' : 'repairing'} is not supported in recursive Nix`);
  for (const target of targets) restriction?.checkBuildable(target.kind === 'path' ? target.path : target.drvPath);
  const result = await withClientScheduler(conn, mode, (scheduler) => scheduler.realise(targets));
  await restriction?.add(result.outputs.flat().map((o) => o.path));
  return result;
}

/** Realises `targets`; throws nix's message on failure. */
async function realiseForClient(conn: DaemonConnection, targets: Target[], mode: BuildMode, texts: string[]): Promise<void> {
  const result = await realiseTargets(conn, targets, mode);
  const failed = result.targetFailures.flatMap((f, i) => (f && !(f instanceof BuildCancelledError) ? [{ f, i }] : []));
  if (failed.length === 1) throw new DaemonOperationError(failed[0]!.f.message);
  if (failed.length > 1) {
    for (const { f } of failed) conn.sendNow(encodeLogLine(`error: ${f.message}`));
    throw new DaemonOperationError(`build of ${failed.map(({ i }) => `'${texts[i]}'`).join(', ')} failed`);
  }
  if (result.targetFailures.some((f) => f !== undefined)) throw new DaemonOperationError('build was cancelled');
}

/** The arguments of BuildPaths and BuildPathsWithResults: derived paths and a build mode. */
async function readBuildRequest(conn: DaemonConnection): Promise<{ texts: string[]; targets: Target[]; mode: BuildMode }> {
  const texts = await readDerivedPaths(conn);
  const targets = texts.map((t) => derivedPathTarget(t, conn.ctx.store.storeDir));
  const mode = await readBuildMode(conn);
  // As nix-daemon: checking is anyone's, repairing (replacing what is valid) only the trusted's.
  if (mode === 'repair' && !conn.ctx.trusted) throw new ProtocolError("repairing or checking is not allowed because you are not in 'trusted-users'");
  return { texts, targets, mode };
}

const buildPaths: Operation = async (conn) => {
  const { texts, targets, mode } = await readBuildRequest(conn);
  return async () => {
    await realiseForClient(conn, targets, mode, texts);
    await conn.reply(new WireWriter().u64(1).toBuffer());
  };
};

/** What `nix build` asks: one BuildResult per derived path, with the outputs it made, by DrvOutput. */
const buildPathsWithResults: Operation = async (conn) => {
  const { texts, targets, mode } = await readBuildRequest(conn);
  return async () => {
    const { store } = conn.ctx;
    const wantedValid = targets.map((target) => {
      if (target.kind === 'path') return queryValidPaths(store.db, [target.path]).size === 1;
      const outputs = [...readDerivation(store, target.drvPath).outputs].filter(([name]) => !target.outputs || target.outputs.includes(name));
      return outputs.every(([, o]) => o.path !== '') && queryValidPaths(store.db, outputs.map(([, o]) => o.path)).size === outputs.length;
    });
    const result = await realiseTargets(conn, targets, mode);
    const w = new WireWriter().u64(targets.length);
    const cache = new Map();
    const readDrv = (p: string): Derivation => readDerivation(store, p);
    targets.forEach((target, i) => {
      const failure = result.targetFailures[i];
      const status = failure ? failureStatus(failure) : wantedValid[i] && mode === 'normal' ? BUILD_STATUS.alreadyValid : BUILD_STATUS.built;
      const built = failure || target.kind === 'path' ? [] : result.outputs[i]!;
      w.string(texts[i]!);
      const drv = target.kind === 'derivation' && built.length > 0 ? readDrv(target.drvPath) : undefined;
      writeBuildResult(w, { status, errorMsg: failure ? failure.message : '', timesBuilt: status === BUILD_STATUS.built ? 1 : 0, built }, drv, readDrv, store.storeDir, cache);
    });
    await conn.reply(w.toBuffer());
  };
};

const ensurePath: Operation = async (conn) => {
  const text = await conn.reader.readString(4096);
  const target = derivedPathTarget(text, conn.ctx.store.storeDir);
  return async () => {
    await realiseForClient(conn, [target], 'normal', [text]);
    await conn.reply(new WireWriter().u64(1).toBuffer());
  };
};

const addIndirectRootOp: Operation = async (conn) => {
  const link = await conn.reader.readString(4096);
  if (!link.startsWith('/')) throw new ProtocolError(`'${link}' is not an absolute path`);
  return async () => {
    // A recursive build's `result` link is in its build directory, gone with it: no root.
    if (!conn.ctx.restriction) addIndirectRoot(conn.ctx.store.layout, link);
    await conn.reply(new WireWriter().u64(1).toBuffer());
  };
};

const GC_ACTIONS: readonly GcAction[] = ['return-live', 'return-dead', 'delete-dead', 'delete-specific'];

const collectGarbageOp: Operation = async (conn) => {
  const actionNumber = await conn.reader.readU64();
  const action = GC_ACTIONS[actionNumber];
  if (action === undefined) throw new ProtocolError(`invalid garbage collector action ${actionNumber}`);
  // Whole store paths only: a name with `!` or `/` in it would lead the collector astray.
  const pathsToDelete = await readPaths(conn);
  const ignoreLiveness = (await conn.reader.readU64()) !== 0;
  // The client sends "no limit" as 2^64 - 1: beyond what a number holds exactly, so read it raw.
  const maxFreedRaw = (await conn.reader.readExact(8)).readBigUInt64LE();
  for (let i = 0; i < 3; i++) await conn.reader.readU64();
  return async () => {
    if (ignoreLiveness) throw new DaemonOperationError('you are not allowed to ignore liveness');
    const maxFreed = maxFreedRaw >= BigInt(Number.MAX_SAFE_INTEGER) ? undefined : Number(maxFreedRaw);
    const results = await collectGarbage(conn.ctx.store, {
      action,
      pathsToDelete,
      info: (message) => conn.sendNow(encodeLogLine(message)),
      ...(maxFreed !== undefined ? { maxFreed } : {}),
    });
    await conn.reply(new WireWriter().strings(results.paths).u64(results.bytesFreed).u64(0).toBuffer());
  };
};

const optimiseStoreOp: Operation = async (conn) => async () => {
  const line = (text: string): void => conn.sendNow(encodeLogLine(text));
  const stats = await optimiseStore(conn.ctx.store, { info: line, warn: (text) => line(`warning: ${text}`) });
  line(freedByLinkingLine(stats));
  await conn.reply(new WireWriter().u64(1).toBuffer());
};

const verifyStoreOp: Operation = async (conn) => {
  const checkContents = (await conn.reader.readU64()) !== 0;
  const repair = (await conn.reader.readU64()) !== 0;
  return async () => {
    if (repair && !conn.ctx.trusted) throw new DaemonOperationError("you are not privileged to repair paths");
    const line = (text: string): void => conn.sendNow(encodeLogLine(text));
    const repairPaths = repair
      ? async (paths: string[]): Promise<boolean> => {
          try {
            await realiseForClient(conn, paths.map((path) => ({ kind: 'path' as const, path })), 'repair', paths);
            return true;
          } catch (e) {
            line(`error: ${(e as Error).message}`);
            return false;
          }
        }
      : undefined;
    const { allFixed } = await verifyStore(conn.ctx.store, checkContents, line, repairPaths);
    await conn.reply(new WireWriter().u64(allFixed ? 0 : 1).toBuffer());
  };
};

const addSignatures: Operation = async (conn) => {
  const path = await readPath(conn);
  const sigs = await conn.reader.readStrings(1024, 4096);
  return async () => {
    if (!conn.ctx.trusted) throw new DaemonOperationError('you are not privileged to add signatures');
    const { db } = conn.ctx.store;
    const info = requirePathInfo(db, path);
    const all = [...new Set([...info.sigs, ...sigs])].sort();
    db.transaction(() => db.statement('update ValidPaths set sigs = ? where path = ?').run(all.join(' '), path));
    await conn.reply(new WireWriter().u64(1).toBuffer());
  };
};

/** A build log from a client that built elsewhere (a trusted remote builder's log, say). */
const addBuildLog: Operation = async (conn) => {
  const baseName = await conn.reader.readString(1024);
  const { store } = conn.ctx;
  const drvPath = checkStorePath(`${store.storeDir}/${baseName}`, store.storeDir);
  return async () => {
    const framed = new FramedSource(conn.reader);
    let failure: unknown;
    try {
      if (!conn.ctx.trusted) throw new DaemonOperationError('you are not privileged to add logs');
      const writer = BuildLogWriter.open(store.layout, drvPath, store.settings.bool('compress-build-log'));
      try {
        const decoder = new TextDecoder();
        let pending = '';
        for await (const chunk of framed.chunks()) {
          pending += decoder.decode(chunk, { stream: true });
          const lines = pending.split('\n');
          pending = lines.pop()!;
          for (const line of lines) writer.writeLine(line);
        }
        if (pending !== '') writer.writeLine(pending);
      } finally {
        await writer.close();
      }
    } catch (e) {
      failure = e;
    }
    await framed.drain();
    if (failure !== undefined) throw failure;
    await conn.reply(new WireWriter().u64(1).toBuffer());
  };
};

export const BUILD_OPERATIONS: ReadonlyMap<number, Operation> = new Map([
  [37, addSignatures],
  [45, addBuildLog],
  [35, verifyStoreOp],
  [9, buildPaths],
  [46, buildPathsWithResults],
  [10, ensurePath],
  [12, addIndirectRootOp],
  [20, collectGarbageOp],
  [34, optimiseStoreOp],
]);
