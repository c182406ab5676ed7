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
  /** Which of `paths` this substituter has. */
  query(paths: string[], signal?: AbortSignal): Promise<Map<string, SubstitutableInfo>>;
  /** Fetches `path` into `store` and makes it valid (its references are valid already). */
  fetch(store: LocalStore, path: string, info: SubstitutableInfo, signal?: AbortSignal): Promise<void>;
}
