import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

/** The repository root (tests run from dist/test/..., fixtures stay in test/fixtures). */
export const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));

export function fixture(relative: string): string {
  return join(repoRoot, 'test', 'fixtures', relative);
}
