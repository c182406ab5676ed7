/** `--optimise`: hard-link identical files through `.links/`, printed as nix-store prints it. */
import type { LocalStore } from '../../store/localStore.js';
import { freedByLinkingLine, optimiseStore } from '../../store/optimise.js';
import { warn } from '../output.js';

export async function opOptimise(store: LocalStore): Promise<number> {
  const stats = await optimiseStore(store, { info: (m) => process.stderr.write(`${m}\n`), warn });
  process.stderr.write(`${freedByLinkingLine(stats)}\n`);
  return 0;
}
