/**
 * Settings with Nix's names, types and defaults. Every room reads them from here;
 * the CLI fills them from config files, NIX_CONFIG-style variables and `--option`.
 */
export class UnknownSettingError extends Error {
  override name = 'UnknownSettingError';
}
export class BadSettingError extends Error {
  override name = 'BadSettingError';
}

type Kind = 'bool' | 'int' | 'string' | 'strings' | 'sandbox';

interface SettingSpec {
  kind: Kind;
  default: string;
  description: string;
}

/** The settings tsnix knows. Values are kept as text and parsed on read, as Nix does. */
export const SETTING_SPECS: Readonly<Record<string, SettingSpec>> = {
  'store': { kind: 'string', default: 'auto', description: 'the store to use: a root directory (chroot store) or "auto"' },
  'use-case-hack': { kind: 'bool', default: 'false', description: 'rename entries that differ only by case on restore' },
  'fsync-metadata': { kind: 'bool', default: 'true', description: 'SQLite synchronous=normal rather than off' },
  'use-sqlite-wal': { kind: 'bool', default: 'true', description: 'WAL journal for the database' },
  'require-sigs': { kind: 'bool', default: 'true', description: 'require signatures on paths from substituters' },
  'max-jobs': { kind: 'string', default: '1', description: 'number of concurrent builds ("auto" = cores)' },
  'cores': { kind: 'int', default: '0', description: 'NIX_BUILD_CORES for builders (0 = all)' },
  'sandbox': { kind: 'sandbox', default: 'true', description: 'true, false or relaxed' },
  'sandbox-paths': { kind: 'strings', default: '', description: 'extra paths in the sandbox (target=source, ? = optional)' },
  'sandbox-fallback': { kind: 'bool', default: 'true', description: 'build without sandbox if namespaces are unavailable' },
  'build-users-group': { kind: 'string', default: 'nixbld', description: 'group of the build users' },
  'impersonate-linux-26': { kind: 'bool', default: 'false', description: 'UNAME26 personality for builders' },
  'timeout': { kind: 'int', default: '0', description: 'seconds a build may take (0 = no limit)' },
  'max-silent-time': { kind: 'int', default: '0', description: 'seconds a build may be silent (0 = no limit)' },
  'max-build-log-size': { kind: 'int', default: '0', description: 'bytes of log a builder may write before it is killed (0 = no limit)' },
  'keep-failed': { kind: 'bool', default: 'false', description: 'keep the build directory of failed builds' },
  'keep-going': { kind: 'bool', default: 'false', description: 'go on with other builds after a failure' },
  'fallback': { kind: 'bool', default: 'false', description: 'build from source when a substitute fails' },
  'substitute': { kind: 'bool', default: 'true', description: 'use the substituters at all' },
  'always-allow-substitutes': { kind: 'bool', default: 'false', description: 'fetch even the outputs of derivations with allowSubstitutes = false' },
  'compress-build-log': { kind: 'bool', default: 'true', description: 'store build logs compressed with bzip2' },
  'pre-build-hook': { kind: 'string', default: '', description: 'program run before each build; may add sandbox paths' },
  'substituters': { kind: 'strings', default: '', description: 'binary caches to use' },
  'trusted-public-keys': { kind: 'strings', default: 'cache.nixos.org-1:6NCHdD59X431o0gWypbMrAURkbJ16ZPMQFGspcDShjY=', description: 'keys whose signatures are trusted (default: cache.nixos.org\'s, as Nix)' },
  'trusted-substituters': { kind: 'strings', default: '', description: 'binary caches untrusted users may add' },
  'secret-key-files': { kind: 'strings', default: '', description: 'keys to sign the paths this store builds or copies' },
  'http-connections': { kind: 'int', default: '25', description: 'most parallel connections per binary cache (0 = no limit)' },
  'connect-timeout': { kind: 'int', default: '0', description: 'seconds to wait for a binary cache to answer (0 = 300)' },
  'ssl-cert-file': { kind: 'string', default: '', description: 'PEM certificates trusted for https:// caches (default: $NIX_SSL_CERT_FILE, $SSL_CERT_FILE, else Node\'s)' },
  'download-attempts': { kind: 'int', default: '5', description: 'attempts of a download that fails for a passing reason' },
  'narinfo-cache-positive-ttl': { kind: 'int', default: '2592000', description: 'seconds a narinfo found stays cached' },
  'narinfo-cache-negative-ttl': { kind: 'int', default: '3600', description: 'seconds a narinfo not found stays cached' },
  'system': { kind: 'string', default: 'x86_64-linux', description: 'the platform of this machine' },
  'extra-platforms': { kind: 'strings', default: 'i686-linux', description: 'other platforms this machine builds for (as Nix on x86_64-linux: i686-linux)' },
  'system-features': { kind: 'strings', default: 'benchmark big-parallel nixos-test', description: 'features a derivation may require (requiredSystemFeatures); kvm is added where /dev/kvm is usable, recursive-nix when that experimental feature is on' },
  'builders-use-substitutes': { kind: 'bool', default: 'false', description: 'machines of builders fetch inputs from their own substituters first' },
  'builders': { kind: 'string', default: '', description: 'machines to build on: URI SYSTEMS KEY MAX-JOBS SPEED FEATURES MANDATORY, separated by ; or newlines, or @FILE' },
  'experimental-features': { kind: 'strings', default: '', description: 'experimental features to enable (tsnix knows recursive-nix)' },
  'gc-reserved-space': { kind: 'int', default: '8388608', description: 'bytes reserved for the garbage collector' },
  'keep-outputs': { kind: 'bool', default: 'false', description: 'the garbage collector keeps the outputs of live derivations' },
  'keep-derivations': { kind: 'bool', default: 'true', description: 'the garbage collector keeps the derivations of live outputs' },
  'trusted-users': { kind: 'strings', default: 'root', description: 'users the daemon trusts (names, @group, *)' },
  'allowed-users': { kind: 'strings', default: '*', description: 'users who may connect to the daemon (names, @group, *)' },
  'auto-optimise-store': { kind: 'bool', default: 'false', description: 'hard-link identical files as each path is registered' },
};

/** Older names Nix still accepts for some settings. */
const ALIASES: Readonly<Record<string, string>> = {
  'build-timeout': 'timeout',
  'build-max-silent-time': 'max-silent-time',
  'build-max-log-size': 'max-build-log-size',
  'build-max-jobs': 'max-jobs',
  'build-cores': 'cores',
  'build-use-substitutes': 'substitute',
  'binary-caches': 'substituters',
  'gc-keep-outputs': 'keep-outputs',
  'gc-keep-derivations': 'keep-derivations',
};

export class Settings {
  private readonly values = new Map<string, string>();

  /** A copy to change without touching this one (a daemon client's options over the daemon's). */
  clone(): Settings {
    const copy = new Settings();
    for (const [name, value] of this.values) copy.values.set(name, value);
    return copy;
  }

  /** Sets `name`; `extra-NAME` appends to a list setting. Unknown names throw UnknownSettingError. */
  set(name: string, value: string, origin = 'command line'): void {
    let key = ALIASES[name] ?? name;
    let append = false;
    if (name.startsWith('extra-') && !(name in SETTING_SPECS)) {
      key = name.slice('extra-'.length);
      append = true;
    }
    const spec = SETTING_SPECS[key];
    // Only lists can be appended to; Nix knows no `extra-` form of other settings.
    if (!spec || (append && spec.kind !== 'strings')) throw new UnknownSettingError(`unknown setting '${name}' (${origin})`);
    if (spec.kind === 'bool') value = normaliseBool(key, value, origin);
    checkValue(key, spec.kind, value, origin);
    if (append) {
      const before = this.get(key);
      this.values.set(key, before ? `${before} ${value}` : value);
    } else {
      this.values.set(key, value);
    }
  }

  get(name: string): string {
    const spec = SETTING_SPECS[name];
    if (!spec) throw new UnknownSettingError(`unknown setting '${name}'`);
    return this.values.get(name) ?? spec.default;
  }

  bool(name: string): boolean {
    return this.get(name) === 'true';
  }

  int(name: string): number {
    return Number.parseInt(this.get(name), 10);
  }

  strings(name: string): string[] {
    return this.get(name).split(/\s+/).filter((s) => s !== '');
  }
}

/** Nix's spellings of a boolean. */
function normaliseBool(name: string, value: string, origin: string): string {
  if (value === 'true' || value === 'yes' || value === '1') return 'true';
  if (value === 'false' || value === 'no' || value === '0') return 'false';
  throw new BadSettingError(`setting '${name}' has invalid value '${value}' (${origin}): expected a Boolean ('true', 'false', 'yes', 'no', '1' or '0')`);
}

function checkValue(name: string, kind: Kind, value: string, origin: string): void {
  const bad = (what: string): never => {
    throw new BadSettingError(`setting '${name}' has invalid value '${value}' (${origin}): ${what}`);
  };
  if (kind === 'int' && !/^\d+$/.test(value)) bad('expected an integer');
  if (kind === 'sandbox' && !['true', 'false', 'relaxed'].includes(value)) bad("expected 'true', 'false' or 'relaxed'");
}
