/** Where Nix keeps a derivation's build log, and the error of reading or writing one. */
import { basename, join } from 'node:path';
import type { StoreLayout } from '../store/layout.js';

export class BuildLogError extends Error {
  override name = 'BuildLogError';
}

/** The files a derivation's log may be in, in the order Nix looks (the flat `drvs/BASE` is Nix's old layout). */
export function buildLogCandidates(layout: StoreLayout, drvPath: string): string[] {
  const base = basename(drvPath);
  const drvsDir = join(layout.logDir, 'drvs');
  const current = join(drvsDir, base.slice(0, 2), base.slice(2));
  const old = join(drvsDir, base);
  return [current, current + '.bz2', old, old + '.bz2'];
}
