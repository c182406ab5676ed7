/**
 * Whether a derivation's outputs may be fetched rather than built: Nix's `allowSubstitutes`
 * attribute (default true; `allowSubstitutes = false` is for derivations cheaper to build
 * than to download), overridden by `always-allow-substitutes`.
 */
import type { Derivation } from '../format/derivation/derivation.js';

export function substitutesAllowed(drv: Derivation, alwaysAllowSubstitutes: boolean): boolean {
  if (alwaysAllowSubstitutes) return true;
  // With structured attributes the value is a JSON boolean; otherwise "1" is true, as Nix reads it.
  const json = drv.env.get('__json');
  if (json !== undefined) {
    try {
      const value = (JSON.parse(json) as Record<string, unknown>)['allowSubstitutes'];
      return value === undefined ? true : value === true;
    } catch {
      return true;
    }
  }
  const value = drv.env.get('allowSubstitutes');
  return value === undefined || value === '1';
}
