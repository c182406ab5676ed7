/** `nix-store --export`: the given valid paths, dependencies first, in the export format. */
import { EXPORT_END, EXPORT_NEXT, encodeExportTrailer } from '../format/exportFormat.js';
import { topoSortPaths } from './closure.js';
import type { LocalStore } from './localStore.js';
import { dumpPath } from './nar/dumpPath.js';
import { requirePathInfo } from './queryPathInfo.js';

export async function* exportPaths(store: LocalStore, paths: string[]): AsyncGenerator<Buffer> {
  for (const p of paths) requirePathInfo(store.db, p);
  for (const path of topoSortPaths(store.db, paths)) {
    const info = requirePathInfo(store.db, path);
    yield EXPORT_NEXT;
    let size = 0;
    for await (const chunk of dumpPath(store.layout.toReal(path), { useCaseHack: store.useCaseHack })) {
      size += chunk.length;
      yield chunk;
    }
    // The content must still be what was registered, or the importer gets a corrupt path.
    if (size !== info.narSize) throw new Error(`path '${path}' was modified: its NAR is ${size} bytes, the database says ${info.narSize}`);
    yield encodeExportTrailer({ path, references: info.references, deriver: info.deriver ?? '' });
  }
  yield EXPORT_END;
}
