/** `--export PATHS` to stdout and `--import` from stdin. */
import { WireReader } from '../../format/wire.js';
import { exportPaths } from '../../store/exportPaths.js';
import { importPaths } from '../../store/importPaths.js';
import type { LocalStore } from '../../store/localStore.js';
import { followLinksToStorePath } from '../followLinks.js';
import { printLines, writeChunks } from '../output.js';

export async function opExport(store: LocalStore, args: string[]): Promise<void> {
  const paths = args.map((a) => followLinksToStorePath(a, store.storeDir));
  await writeChunks(process.stdout, exportPaths(store, paths));
}

export async function opImport(store: LocalStore): Promise<void> {
  const imported = await importPaths(store, new WireReader(process.stdin, 'export stream on standard input'));
  printLines(imported);
}
