/**
 * What the scheduler asks of a substituter (a binary cache). The caches themselves live in
 * src/substituters/; with none configured nothing is asked and everything is built.
 */
import type { LocalStore } from '../store/localStore.js';

export interface SubstitutableInfo {
  /** References and deriver as the cache claims them; the NAR is checked as it arrives. */
  references: string[];
  deriver?: string;
  downloadSize?: number;
  narSize?: number;
}

export interface Substituter {
  /** Shown to users: the cache's URL. */
  readonly uri: string;
  /** Lower is tried first (Nix's `Priority`); asking may read the cache's metadata. */
  priority(signal?: AbortSignal): Promise<number>;
  /**
   * Starts asking for `paths`, which will be queried soon, without waiting: a cache asks for
   * them together with its metadata (the ranking waits for that), a round trip sooner.
   */
  prefetch?(paths: string[], signal?: AbortSignal): void;
  /** Which of `paths` this substituter has. */
  query(paths: string[], signal?: AbortSignal): Promise<Map<string, SubstitutableInfo>>;
  /** Throws when this substituter's `path` may not be used (say, not signed by a trusted key): asked before its references are fetched. */
  vouch(path: string, signal?: AbortSignal): Promise<void>;
  /**
   * Downloads `path` into a temporary place in `store`, checked against what the substituter
   * says of it; it becomes valid only by `commit`, once its references are. `onBytes` hears
   * the download, `onDownloaded` its last byte (the path is then unpacked and checked).
   */
  fetch(store: LocalStore, path: string, signal?: AbortSignal, onBytes?: (bytes: number) => void, onDownloaded?: () => void): Promise<FetchedPath>;
}

/** A substitute downloaded and checked, not yet valid. */
export interface FetchedPath {
  /** Makes the path valid with the substituter's references, deriver and signatures; its references must be valid. */
  commit(): Promise<void>;
  /** Puts it in place of the valid but damaged path of that name (a repair). */
  replace(): Promise<void>;
  /** Drops it (a reference could not be had, or the request was cancelled). */
  discard(): void;
}

/**
 * The substituters in the order they are tried: by priority, then as configured. One that
 * cannot be reached is left out with a warning, as Nix disables a cache it cannot use.
 */
export async function orderSubstituters(
  substituters: readonly Substituter[],
  warn: (message: string) => void,
  signal?: AbortSignal,
): Promise<Substituter[]> {
  const ranked = await Promise.all(
    substituters.map(async (substituter, index) => {
      try {
        return { substituter, index, priority: await substituter.priority(signal) };
      } catch (error) {
        warn(`warning: ${(error as Error).message}; not using substituter '${substituter.uri}'`);
        return undefined;
      }
    }),
  );
  return ranked
    .filter((r) => r !== undefined)
    .sort((a, b) => a.priority - b.priority || a.index - b.index)
    .map((r) => r.substituter);
}
