/**
 * `nix-store --import`: each path of an export stream is unpacked into a temporary
 * directory while its NAR is hashed, then committed like any new path. Paths that are
 * valid already are skipped; a malformed stream stops at the bad entry, with every
 * earlier path complete and valid and nothing of the bad one left behind.
 */
import { readExportMarker, readExportTrailer } from '../format/exportFormat.js';
import { parseStorePath } from '../format/storePath.js';
import type { WireReader } from '../format/wire.js';
import { commitPath } from './commitPath.js';
import { RegistrationError } from './dbErrors.js';
import type { LocalStore } from './localStore.js';
import { restorePath } from './nar/restorePath.js';
import { makePathInfo } from './pathInfo.js';
import { isValidPath } from './queryPathInfo.js';
import { TempDir } from './tempPath.js';

export async function importPaths(store: LocalStore, reader: WireReader): Promise<string[]> {
  const imported: string[] = [];
  while (await readExportMarker(reader)) {
    const temp = TempDir.create(store.layout, 'import');
    try {
      const { narHash, narSize } = await restorePath(temp.contentPath, reader, { useCaseHack: store.useCaseHack });
      const trailer = await readExportTrailer(reader);
      parseStorePath(trailer.path, store.storeDir);
      for (const ref of trailer.references) parseStorePath(ref, store.storeDir);
      if (trailer.deriver) parseStorePath(trailer.deriver, store.storeDir);
      for (const ref of trailer.references) {
        if (ref !== trailer.path && !isValidPath(store.db, ref)) {
          throw new RegistrationError(`cannot import path '${trailer.path}' because it lacks a valid reference '${ref}'`);
        }
      }
      const info = makePathInfo({
        path: trailer.path,
        narHash,
        narSize,
        references: [...trailer.references].sort(),
        deriver: trailer.deriver || undefined,
      });
      await commitPath(store, temp, info);
      imported.push(trailer.path);
    } catch (e) {
      temp.remove();
      throw e;
    }
  }
  if (!(await reader.atEnd())) throw new RegistrationError(`${reader.what}: unexpected data after the end of the export stream at offset ${reader.position}`);
  return imported;
}
