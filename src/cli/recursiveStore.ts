/** A recursive build's store (recursive-nix) for tsnix-store's builds, loaded only when a build needs one. */
import type { RecursiveStoreServer } from '../build/context.js';

export const recursiveStore: RecursiveStoreServer = async (build) => {
  const { recursiveStoreServer } = await import('../daemon/recursiveStore.js');
  return recursiveStoreServer(() => {})(build);
};
