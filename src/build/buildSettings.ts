/** What the scheduler reads of Nix's settings, with Nix's meanings. */
import { availableParallelism } from 'node:os';
import type { Settings } from '../store/settings.js';
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
}

export function parseMaxJobs(value: string): number {
  if (value === 'auto') return availableParallelism();
  if (!/^\d+$/.test(value)) throw new BadBuildSettingError(`configuration setting 'max-jobs' should be 'auto' or an integer`);
  return Number(value);
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
  };
}
