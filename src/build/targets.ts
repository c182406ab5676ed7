/** What a realise request names: `DRV` (all outputs), `DRV!out,dev`, or a plain store path. */
import { isDerivationPath } from '../format/storePath.js';

export type Target = { kind: 'derivation'; drvPath: string; outputs?: string[] } | { kind: 'path'; path: string };

export function parseTarget(text: string): Target {
  const bang = text.indexOf('!');
  if (bang >= 0) {
    const outputs = text.slice(bang + 1).split(',').filter((o) => o !== '');
    return { kind: 'derivation', drvPath: text.slice(0, bang), ...(outputs.length > 0 && !outputs.includes('*') ? { outputs } : {}) };
  }
  return isDerivationPath(text) ? { kind: 'derivation', drvPath: text } : { kind: 'path', path: text };
}
