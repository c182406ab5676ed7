/**
 * Whether a derivation's outputs may be fetched rather than built: Nix's `allowSubstitutes`
 * attribute (default true; `allowSubstitutes = false` is for derivations cheaper to build
 * than to download), overridden by `always-allow-substitutes`.
 */
import type { Derivation } from '../format/derivation/derivation.js';
import { boolAttr } from './drvAttrs.js';

export function substitutesAllowed(drv: Derivation, alwaysAllowSubstitutes: boolean): boolean {
  return alwaysAllowSubstitutes || boolAttr(drv, 'allowSubstitutes', true);
}
