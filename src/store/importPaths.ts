/**
 * `nix-store --import`: every path of an export stream is unpacked into a temporary
 * directory (one for the stream, a part of it per path) while its NAR is hashed; only when
 * the whole stream has been read and checked are they committed. So a truncated or
 * malformed stream changes nothing in the store. Paths that are valid already are kept as
 * they are. The stream ends at its end marker; what follows is the caller's (a protocol may
 * carry more data after it).
 */
import { readExportMarker, readExportTrailer } from '../format/exportFormat.js';
import { parseStorePath } from '../format/storePath.js';
import type { WireReader } from '../format/wire.js';
import { commitPaths, type NewPath } from './commitPath.js';
import { RegistrationError } from './dbErrors.js';
import type { LocalStore } from './localStore.js';
import { restorePath } from './nar/restorePath.js';
import { makePathInfo } from './pathInfo.js';
import { isValidPath } from './queryPathInfo.js';
import { TempDir } from './tempPath.js';

/** Returns the paths of the stream in its order (a path given twice is listed twice, as by nix). */
export async function importPaths(store: LocalStore, reader: WireReader): Promise<string[]> {
  const listed: string[] = [];
  const entries: NewPath[] = [];
  const inStream = new Set<string>();
  // One temporary directory for the whole stream (made with its first path), a part of it for each path.
  let area: TempDir | undefined;
  try {
    while (await readExportMarker(reader)) {
      area ??= await TempDir.create(store.layout, 'import', store.onWait);
      const temp = area.part();
      const { narHash, narSize } = await restorePath(temp.contentPath, reader, { useCaseHack: store.useCaseHack });
      const trailer = await readExportTrailer(reader);
      parseStorePath(trailer.path, store.storeDir);
      for (const ref of trailer.references) {
        parseStorePath(ref, store.storeDir);
        // Dependencies come first in an export, so a reference is valid or was read before.
        if (ref !== trailer.path && !inStream.has(ref) && !isValidPath(store.db, ref)) {
          throw new RegistrationError(`cannot import path '${trailer.path}' because its reference '${ref}' is not valid`);
        }
      }
      if (trailer.deriver) parseStorePath(trailer.deriver, store.storeDir);
      listed.push(trailer.path);
      // A path given twice is unpacked twice but committed once.
      if (inStream.has(trailer.path)) {
        temp.remove();
        continue;
      }
      inStream.add(trailer.path);
      const info = makePathInfo({
        path: trailer.path,
        narHash,
        narSize,
        references: [...trailer.references].sort(),
        deriver: trailer.deriver || undefined,
      });
      entries.push({ temp, info });
    }
    await commitPaths(store, entries);
  } catch (e) {
    // Every part with it (what commitPaths moved into the store is no longer there).
    area?.remove();
    throw e;
  }
  // Emptied by the commit (each part moved into the store or deleted).
  area?.removeInBackground();
  return listed;
}
