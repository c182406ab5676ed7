import { hashBytes } from '../../format/hash.js';

/** What the environment is built from: the derivation's side and the build's side. */
export interface EnvironmentInput {
  drvEnv: Readonly<Record<string, string>>;
  storeDir: string;
  /** The build directory as the builder sees it (`/build` in the sandbox). */
  buildDir: string;
  cores: number;
  isFixedOutput: boolean;
  /** The caller's environment, read for `impureEnvVars` of fixed-output derivations. */
  impureSource: Readonly<Record<string, string | undefined>>;
}

export interface BuilderEnvironment {
  env: Record<string, string>;
  /** Files to write into the build directory before the build (`passAsFile`), name -> content. */
  files: Map<string, string>;
}

/** `.attr-<nix32(sha256(name))>`: where `passAsFile` puts the value of `name`. */
export function passAsFileName(name: string): string {
  return `.attr-${hashBytes('sha256', name).toNix32()}`;
}

/** The builder's environment in Nix's order; later steps override earlier ones. */
export function builderEnvironment(input: EnvironmentInput): BuilderEnvironment {
  const env: Record<string, string> = {
    PATH: '/path-not-set',
    HOME: '/homeless-shelter',
    NIX_STORE: input.storeDir,
    NIX_BUILD_CORES: String(input.cores),
  };
  const files = new Map<string, string>();
  const passAsFile = new Set((input.drvEnv['passAsFile'] ?? '').split(/\s+/).filter((s) => s !== ''));
  for (const [name, value] of Object.entries(input.drvEnv)) {
    if (passAsFile.has(name)) {
      const file = passAsFileName(name);
      files.set(file, value);
      env[`${name}Path`] = `${input.buildDir}/${file}`;
    } else {
      env[name] = value;
    }
  }
  for (const name of ['NIX_BUILD_TOP', 'TMPDIR', 'TEMPDIR', 'TMP', 'TEMP', 'PWD']) env[name] = input.buildDir;
  if (input.isFixedOutput) {
    env['NIX_OUTPUT_CHECKED'] = '1';
    for (const name of (input.drvEnv['impureEnvVars'] ?? '').split(/\s+/).filter((s) => s !== '')) {
      env[name] = input.impureSource[name] ?? '';
    }
  }
  env['NIX_LOG_FD'] = '2';
  env['TERM'] = 'xterm-256color';
  return { env, files };
}
