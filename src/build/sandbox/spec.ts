/**
 * The description the helper reads on its stdin: strings framed by a 32-bit little-endian
 * length, first the magic, then keys each followed by a fixed number of values. The C side
 * checks every length against what is left, so nothing here needs escaping.
 */

export type NetworkMode = 'private' | 'pasta' | 'host';

export type RootEntry =
  /**
   * onDisk: kept on the host's disk under the root (outputs, large files); the rest may live on a tmpfs.
   * view: instead, this host directory, kept between builds (a store view: keptSandboxes.ts).
   */
  | { kind: 'dir'; target: string; mode: number; owner: 'root' | 'build' | 'group'; onDisk?: boolean; view?: string }
  | { kind: 'file'; target: string; mode: number; content: string }
  | { kind: 'bind'; target: string; source: string; writable: boolean; optional: boolean; nofollow?: boolean };

export interface HelperSpec {
  /** false = sandbox off: the builder runs on the host as the build user. */
  namespaces: boolean;
  /** A host directory that does not exist yet; the helper creates it and makes it "/". */
  root?: string;
  entries: RootEntry[];
  buildUid: number;
  buildGid: number;
  network: NetworkMode;
  pasta?: string;
  hostname: string;
  domainname: string;
  uname26: boolean;
  cwd: string;
  /** A recursive build's: where the helper's mounter listens for new store paths. */
  mounter?: string;
  /** The logical and the real store directory: binds of whole store paths are then sent short ('store-bind'). */
  storeDirs?: { logical: string; real: string };
  program: string;
  /** argv, argv[0] first. */
  argv: string[];
  env: Record<string, string>;
}

export const SPEC_MAGIC = 'tsnix-sandbox-1';

export function encodeHelperSpec(spec: HelperSpec): Buffer {
  // The values are gathered first and written into one buffer: a deep build's spec has
  // hundreds of them (a bind per input), and two small buffers each cost ~0.2 ms a build.
  const values: string[] = [];
  const put = (...more: string[]): void => {
    for (const value of more) values.push(value);
  };
  put(SPEC_MAGIC);
  put('namespaces', spec.namespaces ? '1' : '0');
  if (spec.root !== undefined) put('root', spec.root);
  put('build-uid', String(spec.buildUid), 'build-gid', String(spec.buildGid));
  put('network', spec.network);
  if (spec.pasta !== undefined) put('pasta', spec.pasta);
  put('hostname', spec.hostname, 'domainname', spec.domainname);
  put('uname26', spec.uname26 ? '1' : '0');
  const dirs = spec.storeDirs;
  if (dirs) put('store-dirs', dirs.logical, dirs.real);
  const storeBindName = (entry: Extract<RootEntry, { kind: 'bind' }>): string | undefined => {
    if (!dirs || entry.writable || entry.optional || !entry.nofollow || !entry.target.startsWith(`${dirs.logical}/`)) return undefined;
    const name = entry.target.slice(dirs.logical.length + 1);
    return name !== '' && name !== '.' && name !== '..' && !name.includes('/') && entry.source === `${dirs.real}/${name}` ? name : undefined;
  };
  for (const entry of spec.entries) {
    if (entry.kind === 'dir' && entry.view !== undefined) put('view-dir', entry.target, entry.mode.toString(8), entry.owner, entry.view);
    else if (entry.kind === 'dir') put(entry.onDisk ? 'disk-dir' : 'dir', entry.target, entry.mode.toString(8), entry.owner);
    else if (entry.kind === 'file') put('file', entry.target, entry.mode.toString(8), entry.content);
    else {
      const name = storeBindName(entry);
      if (name !== undefined) put('store-bind', name);
      else put('bind', entry.target, entry.source, (entry.writable ? 'w' : 'r') + (entry.optional ? 'o' : '') + (entry.nofollow ? 'n' : ''));
    }
  }
  put('cwd', spec.cwd, 'program', spec.program);
  if (spec.mounter !== undefined) put('mounter', spec.mounter);
  for (const arg of spec.argv) put('arg', arg);
  for (const [name, value] of Object.entries(spec.env)) put('env', `${name}=${value}`);
  let size = 0;
  for (const value of values) size += 4 + Buffer.byteLength(value, 'utf8');
  const out = Buffer.allocUnsafe(size);
  let at = 0;
  for (const value of values) {
    const length = out.write(value, at + 4, 'utf8');
    out.writeUInt32LE(length, at);
    at += 4 + length;
  }
  return out;
}
