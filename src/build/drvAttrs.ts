/**
 * A derivation's boolean attributes as Nix reads them: with structured attributes (`__json`)
 * a JSON boolean; otherwise the environment variable, where "1" is true and anything else
 * false. An attribute that is absent (or unreadable JSON) has its default.
 */
import type { Derivation } from '../format/derivation/derivation.js';

export function boolAttr(drv: Derivation, name: string, fallback: boolean): boolean {
  const json = drv.env.get('__json');
  if (json !== undefined) {
    try {
      const value = (JSON.parse(json) as Record<string, unknown>)[name];
      return value === undefined ? fallback : value === true;
    } catch {
      // Not ours to judge here: the builder sees the same text.
      return fallback;
    }
  }
  const value = drv.env.get(name);
  return value === undefined ? fallback : value === '1';
}
