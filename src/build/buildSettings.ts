/** What the scheduler reads of Nix's settings, with Nix's meanings. */
import { availableParallelism } from 'node:os';
import { SETTING_SPECS, type Settings } from '../store/settings.js';
import { accessSync, constants } from 'node:fs';
import { sandboxSettingsFrom, type SandboxSettings } from './sandbox.js';

export class BadBuildSettingError extends Error {
  override name = 'BadBuildSettingError';
}

export interface BuildSettings {
  /** `max-jobs`: builds at once on this machine ("auto" = number of cores). */
  maxJobs: number;
  keepGoing: boolean;
  keepFailed: boolean;
  fallback: boolean;
  /** `always-allow-substitutes`: `allowSubstitutes = false` of a derivation is not heeded. */
  alwaysAllowSubstitutes: boolean;
  compressBuildLog: boolean;
  /** `pre-build-hook`: empty = none. */
  preBuildHook: string;
  sandbox: SandboxSettings;
  /** The platform this machine builds for (`system`). */
  system: string;
  /** `extra-platforms`: what else it builds for. */
  extraPlatforms: string[];
  /** `system-features`, with kvm and recursive-nix added as Nix adds them. */
  systemFeatures: Set<string>;
  /** `experimental-features`. */
  experimentalFeatures: Set<string>;
  /** `builders-use-substitutes`: machines fetch inputs from their own caches before being sent them. */
  buildersUseSubstitutes: boolean;
}

/** Whether /dev/kvm can be opened for reading and writing: Nix then offers the `kvm` feature. */
function kvmUsable(): boolean {
  try {
    accessSync('/dev/kvm', constants.R_OK | constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

export function parseMaxJobs(value: string): number {
  if (value === 'auto') return availableParallelism();
  if (!/^\d+$/.test(value)) throw new BadBuildSettingError(`configuration setting 'max-jobs' should be 'auto' or an integer`);
  return Number(value);
}

function systemFeaturesFrom(settings: Settings): Set<string> {
  const features = new Set(settings.strings('system-features'));
  // As Nix: added to the defaults only, not to a list the user set.
  if (settings.get('system-features') === SETTING_SPECS['system-features']!.default) {
    if (kvmUsable()) features.add('kvm');
    if (settings.strings('experimental-features').includes('recursive-nix')) features.add('recursive-nix');
  }
  return features;
}

export function buildSettingsFrom(settings: Settings): BuildSettings {
  return {
    maxJobs: parseMaxJobs(settings.get('max-jobs')),
    keepGoing: settings.bool('keep-going'),
    keepFailed: settings.bool('keep-failed'),
    fallback: settings.bool('fallback'),
    alwaysAllowSubstitutes: settings.bool('always-allow-substitutes'),
    compressBuildLog: settings.bool('compress-build-log'),
    preBuildHook: settings.get('pre-build-hook'),
    sandbox: sandboxSettingsFrom(settings),
    system: settings.get('system'),
    extraPlatforms: settings.strings('extra-platforms'),
    systemFeatures: systemFeaturesFrom(settings),
    experimentalFeatures: new Set(settings.strings('experimental-features')),
    buildersUseSubstitutes: settings.bool('builders-use-substitutes'),
  };
}
