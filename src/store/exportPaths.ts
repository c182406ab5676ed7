/** `nix-store --export`: the given valid paths, dependencies first, in the export format. */
import { EXPORT_END, EXPORT_NEXT, encodeExportTrailer } from '../format/exportFormat.js';
import { HashSink } from '../format/hash.js';
import { topoSortPaths } from './closure.js';
import { StoreDbError } from './dbErrors.js';
import type { LocalStore } from './localStore.js';
import { dumpPath } from './nar/dumpPath.js';
import { requirePathInfo } from './queryPathInfo.js';

/** A path's content no longer matches its registered NAR hash. */
export class PathModifiedError extends StoreDbError {
  override name = 'PathModifiedError';
}

export async function* exportPaths(store: LocalStore, paths: string[]): AsyncGenerator<Buffer> {
  for (const p of paths) requirePathInfo(store.db, p);
  for (const path of topoSortPaths(store.db, paths)) {
    const info = requirePathInfo(store.db, path);
    yield EXPORT_NEXT;
    const sink = new HashSink('sha256');
    for await (const chunk of dumpPath(store.layout.toReal(path), { useCaseHack: store.useCaseHack })) {
      sink.update(chunk);
      yield chunk;
    }
    // The content must still be what was registered, or the importer gets a corrupt path
    // (the trailer is not yet written, so the stream cannot be imported as it stands).
    const narHash = sink.finish();
    if (!narHash.equals(info.narHash) || sink.size !== info.narSize) {
      throw new PathModifiedError(`hash of path '${path}' has changed from '${info.narHash.format('nix32')}' to '${narHash.format('nix32')}'!`);
    }
    yield encodeExportTrailer({ path, references: info.references, deriver: info.deriver ?? '' });
  }
  yield EXPORT_END;
}
