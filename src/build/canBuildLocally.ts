/**
 * Whether this machine may build a derivation, as Nix decides before a local build: its
 * platform is `system`, one of `extra-platforms` or `builtin`, and every feature in its
 * `requiredSystemFeatures` is in `system-features`.
 */
import type { Derivation } from '../format/derivation/derivation.js';
import type { BuildSettings } from './buildSettings.js';
import { boolAttr } from './drvAttrs.js';

/** The derivation's `requiredSystemFeatures`, sorted (a JSON list with structured attributes, else words). */
export function requiredSystemFeatures(drv: Derivation): string[] {
  const json = drv.env.get('__json');
  let features: string[] = [];
  if (json !== undefined) {
    try {
      const value = (JSON.parse(json) as Record<string, unknown>)['requiredSystemFeatures'];
      if (Array.isArray(value)) features = value.filter((f): f is string => typeof f === 'string');
    } catch {
      // Not ours to judge here: the builder sees the same text.
    }
  } else {
    features = (drv.env.get('requiredSystemFeatures') ?? '').split(/\s+/).filter((f) => f !== '');
  }
  return [...new Set(features)].sort();
}

/** Why this machine cannot build `drv`, in Nix's words; undefined when it can. */
export function localBuildRefusal(drvPath: string, drv: Derivation, settings: BuildSettings): string | undefined {
  const required = requiredSystemFeatures(drv);
  const platformOk = drv.platform === settings.system || drv.platform === 'builtin' || settings.extraPlatforms.includes(drv.platform);
  if (platformOk && required.every((f) => settings.systemFeatures.has(f))) return undefined;
  const have = [...settings.systemFeatures].sort().join(', ');
  return `a '${drv.platform}' with features {${required.join(', ')}} is required to build '${drvPath}', but I am a '${settings.system}' with features {${have}}`;
}

/**
 * Whether a derivation stays here even when machines of `builders` could take it, as with
 * Nix: it says `preferLocalBuild` (a build cheaper than copying its inputs over), and this
 * machine can build it and has build slots (`max-jobs` above 0).
 */
export function prefersLocalBuild(drvPath: string, drv: Derivation, settings: BuildSettings): boolean {
  return boolAttr(drv, 'preferLocalBuild', false) && settings.maxJobs > 0 && localBuildRefusal(drvPath, drv, settings) === undefined;
}
