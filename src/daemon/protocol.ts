/**
 * The worker protocol's constants and composite values (spec: protocols.md, Part B, 1.34),
 * as pure encoders. The connection (connection.ts) reads requests with a WireReader.
 */
import { WireWriter } from '../format/wire.js';
import type { ValidPathInfo } from '../store/pathInfo.js';

export const WORKER_MAGIC_1 = 0x6e697863;
export const WORKER_MAGIC_2 = 0x6478696f;
/** 1.34, what Nix 2.8 speaks. */
export const PROTOCOL_VERSION = 0x122;
/** The oldest client Nix 2.8's daemon accepts (1.10). */
export const MIN_CLIENT_VERSION = 0x10a;
export const NIX_VERSION = '2.8.0';

export const STDERR_NEXT = 0x6f6c6d67;
export const STDERR_LAST = 0x616c7473;
export const STDERR_ERROR = 0x63787470;

/** Opcodes by number, with Nix's names (for messages and logs). */
export const OPERATION_NAMES: Readonly<Record<number, string>> = {
  1: 'IsValidPath', 3: 'HasSubstitutes', 4: 'QueryPathHash', 5: 'QueryReferences', 6: 'QueryReferrers',
  7: 'AddToStore', 8: 'AddTextToStore', 9: 'BuildPaths', 10: 'EnsurePath', 11: 'AddTempRoot',
  12: 'AddIndirectRoot', 13: 'SyncWithGC', 14: 'FindRoots', 16: 'ExportPath', 18: 'QueryDeriver',
  19: 'SetOptions', 20: 'CollectGarbage', 21: 'QuerySubstitutablePathInfo', 22: 'QueryDerivationOutputs',
  23: 'QueryAllValidPaths', 26: 'QueryPathInfo', 27: 'ImportPaths', 28: 'QueryDerivationOutputNames',
  29: 'QueryPathFromHashPart', 30: 'QuerySubstitutablePathInfos', 31: 'QueryValidPaths',
  32: 'QuerySubstitutablePaths', 33: 'QueryValidDerivers', 34: 'OptimiseStore', 35: 'VerifyStore',
  36: 'BuildDerivation', 37: 'AddSignatures', 38: 'NarFromPath', 39: 'AddToStoreNar', 40: 'QueryMissing',
  41: 'QueryDerivationOutputMap', 42: 'RegisterDrvOutput', 43: 'QueryRealisation', 44: 'AddMultipleToStore',
  45: 'AddBuildLog', 46: 'BuildPathsWithResults',
};

/** A request the daemon cannot serve; the connection closes after telling the client. */
export class ProtocolError extends Error {
  override name = 'ProtocolError';
}

/** An error as a 1.26+ client reads it after STDERR_ERROR. */
export function encodeError(message: string): Buffer {
  return new WireWriter().u64(STDERR_ERROR).string('Error').u64(0).string('Error').string(message).u64(0).u64(0).toBuffer();
}

/** A log line for the client's display. */
export function encodeLogLine(line: string): Buffer {
  return new WireWriter().u64(STDERR_NEXT).string(line.endsWith('\n') ? line : `${line}\n`).toBuffer();
}

/** ValidPathInfo, "format ≥ 16"; with `withPath` the path first. */
export function writePathInfo(w: WireWriter, info: ValidPathInfo, withPath: boolean): WireWriter {
  if (withPath) w.string(info.path);
  return w
    .string(info.deriver ?? '')
    .string(info.narHash.toBase16())
    .strings([...info.references].sort())
    .u64(info.registrationTime)
    .u64(info.narSize)
    .u64(info.ultimate ? 1 : 0)
    .strings([...info.sigs].sort())
    .string(info.ca ?? '');
}
