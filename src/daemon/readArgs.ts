/** Reading the arguments of operations: store paths and lists, within a request's budget. */
import { InvalidPathError } from '../format/errors.js';
import { parseStorePath } from '../format/storePath.js';
import type { BuildMode } from '../build/buildStep.js';
import { parseTarget, type Target } from '../build/targets.js';
import type { Derivation } from '../format/derivation/index.js';
import type { DaemonConnection } from './connection.js';
import { ProtocolError } from './protocol.js';

/** `path` when it is a store path of `storeDir`; anything else ends the connection, as nix's parseStorePath. */
export function checkStorePath(path: string, storeDir: string): string {
  try {
    parseStorePath(path, storeDir);
  } catch (e) {
    if (e instanceof InvalidPathError) throw new ProtocolError(e.message);
    throw e;
  }
  return path;
}

/** Reads a store path of the daemon's store (see checkStorePath). */
export async function readPath(conn: DaemonConnection): Promise<string> {
  const path = await conn.reader.readString(MAX_PATH_LENGTH);
  conn.checkBudget();
  return checkStorePath(path, conn.ctx.store.storeDir);
}

/** The longest store path there is: directory, `/`, hash, `-`, a name of at most 211 characters (with room for a long store directory). */
const MAX_PATH_LENGTH = 1024;

export async function readPaths(conn: DaemonConnection): Promise<string[]> {
  const count = await conn.reader.readU64();
  if (count > 1 << 22) throw new ProtocolError(`a list of ${count} store paths is more than tsnix-daemon takes`);
  const paths: string[] = [];
  for (let i = 0; i < count; i++) paths.push(await readPath(conn));
  return paths;
}

/** A list of derived paths (`path`, `drv!out,…`, `drv!*`) within the request's budget. */
export async function readDerivedPaths(conn: DaemonConnection): Promise<string[]> {
  const count = await conn.reader.readU64();
  if (count > 1 << 22) throw new ProtocolError(`a list of ${count} store paths is more than tsnix-daemon takes`);
  const targets: string[] = [];
  for (let i = 0; i < count; i++) {
    targets.push(await conn.reader.readString(8192));
    conn.checkBudget();
  }
  return targets;
}


const BUILD_MODES: readonly BuildMode[] = ['normal', 'repair', 'check'];

/** A BuildMode (0 normal, 1 repair, 2 check); anything else ends the connection. */
export async function readBuildMode(conn: DaemonConnection): Promise<BuildMode> {
  const mode = await conn.reader.readU64();
  const name = BUILD_MODES[mode];
  if (name === undefined) throw new ProtocolError(`invalid build mode ${mode}`);
  return name;
}

/** A derivation given whole: its input sources and output paths are paths of `storeDir` (or none, for a floating output). */
export function checkDerivationPaths(drv: Derivation, storeDir: string): void {
  // Paths of another store end the session, as nix's parseStorePath.
  for (const path of drv.inputSrcs) checkStorePath(path, storeDir);
  for (const o of drv.outputs.values()) if (o.path !== '') checkStorePath(o.path, storeDir);
}

/** A DerivedPath: without `!` an opaque path (a `.drv` too: the file, not its build), as nix reads it. */
export function derivedPathTarget(text: string, storeDir: string): Target {
  const path = checkStorePath(text.split('!')[0]!, storeDir);
  return text.includes('!') ? parseTarget(text) : { kind: 'path', path };
}
