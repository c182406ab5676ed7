/**
 * BuildDerivation (36): a derivation sent whole, without its input derivations, built with
 * its input sources as the input closure (the build hook of a remote `ssh-ng://` builder
 * sends it). As nix-daemon: a client outside `trusted-users` may only build fixed-output
 * derivations this way, and its output path and derivation path are worked out here, not
 * taken from it; a build's failure is in the BuildResult, not an Error.
 */
import { drvNameFromPath, derivationStorePath, type Derivation } from '../format/derivation/index.js';
import { derivationKind, fixedOutputHash } from '../format/derivation/outputKind.js';
import { readBasicDerivation } from '../format/basicDerivation.js';
import { makeFixedOutputPath, outputPathName } from '../format/storePath.js';
import { givenDerivationResult } from './buildResult.js';
import { withClientScheduler } from './clientScheduler.js';
import type { DaemonConnection } from './connection.js';
import type { Operation } from './operations.js';
import { ProtocolError } from './protocol.js';
import { checkDerivationPaths, readBuildMode, readPath } from './readArgs.js';

/** Work that failed in a way the client is told about (the connection goes on). */
class BuildDerivationError extends Error {
  override name = 'BuildDerivationError';
}

/** The derivation as an untrusted client may have it built: its fixed output's path from its hash. */
function trustlessCopy(drvPath: string, drv: Derivation, storeDir: string): { drvPath: string; drv: Derivation } {
  const name = drvNameFromPath(drvPath);
  const out = drv.outputs.get('out')!;
  const { method, hash } = fixedOutputHash(out);
  const path = makeFixedOutputPath(method, hash, outputPathName(name, 'out'), storeDir);
  const copy: Derivation = { ...drv, outputs: new Map([['out', { ...out, path }]]) };
  return { drvPath: derivationStorePath(copy, name, storeDir), drv: copy };
}

async function readRequest(conn: DaemonConnection): Promise<{ drvPath: string; drv: Derivation; mode: Awaited<ReturnType<typeof readBuildMode>> }> {
  const { storeDir } = conn.ctx.store;
  const drvPath = await readPath(conn);
  if (!drvPath.endsWith('.drv')) throw new ProtocolError(`'${drvPath}' is not a derivation path`);
  const drv = await readBasicDerivation(conn.reader, { check: () => conn.checkBudget() });
  checkDerivationPaths(drv, storeDir);
  return { drvPath, drv, mode: await readBuildMode(conn) };
}

const buildDerivation: Operation = async (conn) => {
  const request = await readRequest(conn);
  return async () => {
    const { store, trusted } = conn.ctx;
    if (request.mode === 'repair' && !trusted) throw new BuildDerivationError("repairing or checking is not allowed because you are not in 'trusted-users'");
    let kind;
    try {
      kind = derivationKind(request.drv);
    } catch (e) {
      throw new BuildDerivationError(`derivation '${request.drvPath}': ${(e as Error).message}`);
    }
    if (kind !== 'fixed' && kind !== 'inputAddressed') throw new BuildDerivationError(`derivation '${request.drvPath}' has ${kind} outputs, which tsnix does not build`);
    if (kind !== 'fixed' && !trusted) throw new BuildDerivationError('you are not privileged to build input-addressed derivations');
    const { drvPath, drv } = trusted ? request : trustlessCopy(request.drvPath, request.drv, store.storeDir);
    const reply = await givenDerivationResult(drvPath, drv, store.storeDir, () => withClientScheduler(conn, request.mode, (scheduler) => scheduler.realiseGiven(drvPath, drv)));
    await conn.reply(reply);
  };
};

export const BUILD_DERIVATION_OPERATIONS: ReadonlyMap<number, Operation> = new Map([[36, buildDerivation]]);
