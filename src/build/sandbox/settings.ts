import type { Settings } from '../../store/settings.js';

/** What the sandbox reads of Nix's settings, with Nix's meanings. */
export interface SandboxSettings {
  /** `sandbox`: true, false, or relaxed (relaxed lets `__noChroot = 1` derivations out). */
  sandbox: 'true' | 'false' | 'relaxed';
  /** `sandbox-paths` and `extra-sandbox-paths`: `target=source`, `path`, `?` suffix = optional. */
  sandboxPaths: string[];
  extraSandboxPaths: string[];
  /** `sandbox-fallback`: build without the sandbox when the kernel cannot create namespaces. */
  sandboxFallback: boolean;
  /** `build-users-group`: used when the driver runs as root; empty = build as root. */
  buildUsersGroup: string;
  /** `impersonate-linux-26`: `uname -r` says 2.6.x. */
  impersonateLinux26: boolean;
  /** `timeout` and `max-silent-time` in seconds; 0 = no limit. */
  timeout: number;
  maxSilentTime: number;
  /** `max-build-log-size`: bytes of output after which the builder is killed; 0 = no limit. */
  maxLogSize: number;
  /** `cores`: NIX_BUILD_CORES. */
  cores: number;
}

export const DEFAULT_SANDBOX_SETTINGS: Readonly<SandboxSettings> = {
  sandbox: 'true',
  sandboxPaths: [],
  extraSandboxPaths: [],
  sandboxFallback: true,
  buildUsersGroup: 'nixbld',
  impersonateLinux26: false,
  timeout: 0,
  maxSilentTime: 0,
  maxLogSize: 0,
  cores: 0,
};

/** Reads the sandbox settings out of the shared settings (extra-sandbox-paths is already appended there). */
export function sandboxSettingsFrom(settings: Settings): SandboxSettings {
  return {
    sandbox: settings.get('sandbox') as SandboxSettings['sandbox'],
    sandboxPaths: settings.strings('sandbox-paths'),
    extraSandboxPaths: [],
    sandboxFallback: settings.bool('sandbox-fallback'),
    buildUsersGroup: settings.get('build-users-group'),
    impersonateLinux26: settings.bool('impersonate-linux-26'),
    timeout: settings.int('timeout'),
    maxSilentTime: settings.int('max-silent-time'),
    maxLogSize: settings.int('max-build-log-size'),
    cores: settings.int('cores'),
  };
}

export interface SandboxPathEntry {
  target: string;
  source: string;
  optional: boolean;
}

/** Parses one `sandbox-paths` entry as Nix does: `target=source` or `path`, `?` at the end = optional. */
export function parseSandboxPath(entry: string): SandboxPathEntry {
  let text = entry;
  let optional = false;
  if (text.endsWith('?')) {
    optional = true;
    text = text.slice(0, -1);
  }
  const eq = text.indexOf('=');
  if (eq < 0) return { target: text, source: text, optional };
  return { target: text.slice(0, eq), source: text.slice(eq + 1), optional };
}
