import { posix } from 'node:path';
import { parseSandboxPath } from './settings.js';
import type { RootEntry } from './spec.js';

/** The uid and gid the builder has inside the sandbox, as in Nix. */
export const SANDBOX_UID = 1000;
export const SANDBOX_GID = 100;
export const SANDBOX_BUILD_DIR = '/build';

export interface LayoutInput {
  storeDir: string;
  realStoreDir: string;
  /** Logical store paths to bind read-only: the input closure and the closures of store sandbox-paths. */
  storePaths: Iterable<string>;
  /** Host directory bound at /build. */
  buildDir: string;
  sandboxPaths: readonly string[];
  isFixedOutput: boolean;
  /** A store view to use as the store directory (keptSandboxes.ts), where the entries allow one. */
  storeView?: string;
}

function passwd(): string {
  return (
    `root:x:0:0:Nix build user:${SANDBOX_BUILD_DIR}:/noshell\n` +
    `nixbld:x:${SANDBOX_UID}:${SANDBOX_GID}:Nix build user:${SANDBOX_BUILD_DIR}:/noshell\n` +
    'nobody:x:65534:65534:Nobody:/:/noshell\n'
  );
}

function group(): string {
  return `root:x:0:\nnixbld:!:${SANDBOX_GID}:\nnogroup:x:65534:\n`;
}

/** A store path's host location: the logical store directory replaced by the physical one. */
export function toRealPath(storeDir: string, realStoreDir: string, path: string): string {
  return path === storeDir || path.startsWith(`${storeDir}/`) ? realStoreDir + path.slice(storeDir.length) : path;
}

/** The store path a path inside the store belongs to (`/nix/store/x-y/bin/sh` -> `/nix/store/x-y`). */
export function storePathOf(storeDir: string, path: string): string | undefined {
  if (!path.startsWith(`${storeDir}/`)) return undefined;
  const name = path.slice(storeDir.length + 1).split('/')[0];
  return name ? `${storeDir}/${name}` : undefined;
}

/**
 * The root as Nix 2.8 lays it out: the store directory (1775, build group, where outputs are
 * created), /tmp, /etc/{passwd,group,hosts}, /build, every input read-only at its logical
 * path, and the sandbox-paths. Bind mounts are ordered so that a parent is mounted first.
 */
export function sandboxLayout(input: LayoutInput): RootEntry[] {
  const entries: RootEntry[] = [
    // Outputs are created in the store directory and /tmp may grow large: both stay on disk.
    { kind: 'dir', target: input.storeDir, mode: 0o1775, owner: 'group', onDisk: true },
    { kind: 'dir', target: '/tmp', mode: 0o1777, owner: 'root', onDisk: true },
    { kind: 'file', target: '/etc/passwd', mode: 0o644, content: passwd() },
    { kind: 'file', target: '/etc/group', mode: 0o644, content: group() },
  ];
  const binds = new Map<string, RootEntry>();
  const bind = (target: string, source: string, writable: boolean, optional: boolean, nofollow = false): void => {
    binds.set(target, { kind: 'bind', target, source, writable, optional, nofollow });
  };
  if (input.isFixedOutput) {
    // A fixed-output build resolves names as the host does.
    entries.push({ kind: 'file', target: '/etc/nsswitch.conf', mode: 0o644, content: 'hosts: files dns\nservices: files\n' });
    for (const file of ['/etc/resolv.conf', '/etc/services', '/etc/hosts']) bind(file, file, false, true);
  } else {
    entries.push({ kind: 'file', target: '/etc/hosts', mode: 0o644, content: '127.0.0.1 localhost\n::1 localhost\n' });
  }
  bind(SANDBOX_BUILD_DIR, input.buildDir, true, false);
  // A store path that is a symlink is shown as that symlink, never as what it points to.
  for (const path of input.storePaths) bind(path, toRealPath(input.storeDir, input.realStoreDir, path), false, false, true);
  for (const entry of input.sandboxPaths.map(parseSandboxPath)) {
    const target = posix.normalize(entry.target);
    bind(target, toRealPath(input.storeDir, input.realStoreDir, entry.source), false, entry.optional);
  }
  const sorted = [...binds.values()].sort((a, b) => (a.target < b.target ? -1 : a.target > b.target ? 1 : 0));
  // A view holds only direct children of the store directory (a sandbox path may go deeper).
  if (input.storeView !== undefined && sorted.every((e) => !e.target.startsWith(`${input.storeDir}/`) || !e.target.slice(input.storeDir.length + 1).includes('/'))) {
    entries[0] = { ...entries[0]!, view: input.storeView } as RootEntry;
  }
  return [...entries, ...sorted];
}

/** The store view the layout uses, if any. */
export function layoutView(entries: readonly RootEntry[]): string | undefined {
  const first = entries[0];
  return first?.kind === 'dir' ? first.view : undefined;
}
