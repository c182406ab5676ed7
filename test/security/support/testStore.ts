import { chmodSync, chownSync, copyFileSync, readFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { encodeNix32 } from '../../../src/format/base32.js';
import {
  DEFAULT_SANDBOX_SETTINGS,
  runSandboxedBuild,
  type SandboxBuildRequest,
  type SandboxBuildResult,
  type SandboxSettings,
} from '../../../src/build/sandbox.js';

export const STORE_DIR = '/nix/store';
export const BUSYBOX = '/bin/busybox';

/** The applets a test builder uses, each a symlink to busybox next to `sh`. */
const APPLETS = [
  'sh', 'cat', 'ls', 'id', 'env', 'echo', 'hostname', 'dnsdomainname', 'ip', 'ps', 'sleep', 'touch', 'mkdir', 'chmod',
  'ln', 'mount', 'chroot', 'pivot_root', 'uname', 'wget', 'nc', 'rm', 'grep', 'test', 'true', 'false', 'pwd', 'umount',
  'unshare', 'kill', 'stat', 'head', 'wc', 'tr', 'readlink', 'mknod', 'cp',
];

/** A hash part made of random nix32 characters, so every test path is new. */
export function randomHashPart(): string {
  return encodeNix32(randomBytes(20));
}

export interface TestStore {
  root: string;
  /** The logical store directory: /nix/store, or realStoreDir for an undiverted store. */
  storeDir: string;
  realStoreDir: string;
  /** The logical path of the busybox directory (bin + applet symlinks). */
  bbdir: string;
  /** A store path that exists but is never given to a build as an input. */
  outsider: string;
  /** Adds a store path holding one file; returns its logical path. */
  addFile(name: string, fileName: string, content: string | Buffer, mode?: number): string;
  /** Adds a store path that is itself a regular file (like builtins.toFile); returns its logical path. */
  addText(name: string, content: string): string;
  destroy(): void;
}

/** A temporary store; `undiverted` puts the logical store directory at its real place (needed without a sandbox). */
export function makeTestStore(options: { undiverted?: boolean } = {}): TestStore {
  const root = mkdtempSync(join(tmpdir(), 'tsnix-sandbox-test-'));
  chmodSync(root, 0o755);
  const realStoreDir = join(root, 'nix', 'store');
  mkdirSync(realStoreDir, { recursive: true, mode: 0o755 });
  const storeDir = options.undiverted ? realStoreDir : STORE_DIR;
  if (options.undiverted && process.getuid?.() === 0) {
    // As Nix keeps /nix/store: 1775 root:nixbld, so unsandboxed build users can create outputs.
    const nixbld = readFileSync('/etc/group', 'utf8').split('\n').find((line) => line.startsWith('nixbld:'));
    if (nixbld) chownSync(realStoreDir, 0, Number(nixbld.split(':')[2]));
    chmodSync(realStoreDir, 0o1775);
  }
  const addFile = (name: string, fileName: string, content: string | Buffer, mode = 0o444): string => {
    const base = `${randomHashPart()}-${name}`;
    mkdirSync(join(realStoreDir, base), { mode: 0o755 });
    writeFileSync(join(realStoreDir, base, fileName), content, { mode });
    chmodSync(join(realStoreDir, base, fileName), mode);
    return `${storeDir}/${base}`;
  };
  const addText = (name: string, content: string): string => {
    const base = `${randomHashPart()}-${name}`;
    writeFileSync(join(realStoreDir, base), content, { mode: 0o444 });
    return `${storeDir}/${base}`;
  };
  const bbBase = `${randomHashPart()}-bbdir`;
  const bbReal = join(realStoreDir, bbBase);
  mkdirSync(bbReal, { mode: 0o755 });
  copyFileSync(BUSYBOX, join(bbReal, 'busybox'));
  chmodSync(join(bbReal, 'busybox'), 0o555);
  for (const applet of APPLETS) symlinkSync('busybox', join(bbReal, applet));
  const outsider = addFile('outsider', 'secret', 'outside the closure\n');
  return {
    root,
    storeDir,
    realStoreDir,
    bbdir: `${storeDir}/${bbBase}`,
    outsider,
    addFile,
    addText,
    destroy: () => rmSync(root, { recursive: true, force: true }),
  };
}

export interface ScriptBuild {
  result: SandboxBuildResult;
  log: string[];
  warnings: string[];
  /** Logical output path of `out`. */
  out: string;
}

export interface ScriptBuildOptions {
  settings?: Partial<SandboxSettings>;
  env?: Record<string, string>;
  inputs?: string[];
  fixedOutput?: boolean;
  extra?: Partial<SandboxBuildRequest>;
  name?: string;
}

/** Runs `script` with busybox sh as the builder of a one-output derivation. */
export async function buildScript(store: TestStore, script: string, options: ScriptBuildOptions = {}): Promise<ScriptBuild> {
  const name = options.name ?? 'test-build';
  const out = `${store.storeDir}/${randomHashPart()}-${name}`;
  const log: string[] = [];
  const warnings: string[] = [];
  const result = await runSandboxedBuild({
    storeDir: store.storeDir,
    realStoreDir: store.realStoreDir,
    inputPaths: [store.bbdir, ...(options.inputs ?? [])],
    drv: {
      name,
      builder: `${store.bbdir}/sh`,
      args: ['-c', script],
      env: { name, out, system: 'x86_64-linux', builder: `${store.bbdir}/sh`, PATH: store.bbdir, outputs: 'out', ...options.env },
      outputs: { out },
      isFixedOutput: options.fixedOutput ?? false,
    },
    settings: { ...DEFAULT_SANDBOX_SETTINGS, ...options.settings },
    onLogLine: (line) => log.push(line),
    onWarning: (message) => warnings.push(message),
    buildDirParent: join(store.root, 'builds'),
    userPoolDir: join(store.root, 'userpool'),
    ...options.extra,
  });
  return { result, log, warnings, out };
}

/** The value a builder printed as `KEY=value` on a line of its log. */
export function logValue(log: string[], key: string): string | undefined {
  const line = log.find((l) => l.startsWith(`${key}=`));
  return line?.slice(key.length + 1);
}
