/**
 * `<hashpart>.narinfo` files of binary caches: `Key: value` lines describing one store path,
 * its NAR file and the signatures over its fingerprint (binary-cache.md §3, §5).
 */
import { parseContentAddress } from './contentAddress.js';
import { FormatError } from './errors.js';
import { Hash } from './hash.js';
import { parseBaseName, parseStorePath } from './storePath.js';

export interface NarInfo {
  storePath: string;
  /** Relative URL of the (compressed) NAR, e.g. `nar/<nix32>.nar.xz`. */
  url: string;
  compression: string;
  fileHash?: Hash;
  fileSize?: number;
  narHash: Hash;
  narSize: number;
  /** Full store paths, sorted. */
  references: string[];
  /** Full store path of the `.drv`. */
  deriver?: string;
  system?: string;
  /** `<keyname>:<base64>`, sorted and without duplicates (Nix keeps them in a set). */
  sigs: string[];
  ca?: string;
}

/** A narinfo that Nix would call corrupt; names the file and the field. */
export class NarInfoFormatError extends FormatError {
  override name = 'NarInfoFormatError';
  constructor(
    readonly source: string,
    readonly field: string | undefined,
    detail: string,
  ) {
    super(`NAR info file '${source}' is corrupt: ${field === undefined ? '' : `field '${field}': `}${detail}`);
  }
}

/** Keys that may appear once; `Sig` repeats and unknown keys are skipped. */
const SINGLE_KEYS = new Set(['StorePath', 'URL', 'Compression', 'FileHash', 'FileSize', 'NarHash', 'NarSize', 'References', 'Deriver', 'System', 'CA']);

export function parseNarInfo(text: string, storeDir: string, source: string): NarInfo {
  const fail = (field: string | undefined, detail: string): never => {
    throw new NarInfoFormatError(source, field, detail);
  };
  // Turns a format error of a helper (hash, store path, content address) into one naming the field.
  const field = <T>(key: string, parse: () => T): T => {
    try {
      return parse();
    } catch (e) {
      if (e instanceof FormatError) return fail(key, e.message);
      throw e;
    }
  };
  // Nix stops at a last line without its newline too: a truncated download must not pass.
  if (text.length > 0 && !text.endsWith('\n')) fail(undefined, 'the last line is not terminated by a newline');

  const values = new Map<string, string>();
  const sigs = new Set<string>();
  const lines = text.split('\n');
  lines.pop();
  for (const [index, line] of lines.entries()) {
    const sep = line.indexOf(': ');
    const colon = line.indexOf(':');
    if (sep < 0 || colon !== sep) fail(undefined, `line ${index + 1} '${line}' is not of the form 'Key: value'`);
    const key = line.slice(0, sep);
    const value = line.slice(sep + 2);
    if (key === 'Sig') sigs.add(value);
    else if (SINGLE_KEYS.has(key)) {
      // A second StorePath or NarHash would let two readers disagree on what was signed.
      if (values.has(key)) fail(key, 'appears more than once');
      values.set(key, value);
    }
  }

  const required = (key: string): string => values.get(key) ?? fail(key, 'missing');
  const number = (key: string, value: string): number => {
    const n = Number(value);
    if (!/^[0-9]+$/.test(value) || !Number.isSafeInteger(n)) fail(key, `'${value}' is not a number`);
    return n;
  };
  // Nix reads a hash only in a typed form (`sha256:…` or SRI), never a bare digest.
  const hash = (key: string, value: string): Hash => field(key, () => Hash.parse(value));

  const storePath = required('StorePath');
  field('StorePath', () => parseStorePath(storePath, storeDir));
  const url = required('URL');
  if (url === '') fail('URL', 'empty');
  const narHash = hash('NarHash', required('NarHash'));
  const narSize = number('NarSize', required('NarSize'));
  if (narSize === 0) fail('NarSize', 'must not be zero');

  const info: NarInfo = {
    storePath,
    url,
    // An absent or empty Compression means bzip2: the format predates the field.
    compression: values.get('Compression') || 'bzip2',
    narHash,
    narSize,
    references: [],
    sigs: [...sigs].sort(),
  };
  const fileHash = values.get('FileHash');
  if (fileHash !== undefined) info.fileHash = hash('FileHash', fileHash);
  const fileSize = values.get('FileSize');
  if (fileSize !== undefined) info.fileSize = number('FileSize', fileSize);
  const references = values.get('References');
  if (references !== undefined) {
    const bases = references.split(' ').filter((ref) => ref !== '');
    const full = bases.map((base) => field('References', () => `${storeDir}/${parseBaseName(base).baseName}`));
    info.references = [...new Set(full)].sort();
  }
  const deriver = values.get('Deriver');
  if (deriver !== undefined && deriver !== 'unknown-deriver') {
    info.deriver = field('Deriver', () => `${storeDir}/${parseBaseName(deriver).baseName}`);
  }
  const system = values.get('System');
  if (system !== undefined) info.system = system;
  const ca = values.get('CA');
  if (ca !== undefined) {
    field('CA', () => parseContentAddress(ca));
    info.ca = ca;
  }
  return info;
}

/** The narinfo text exactly as Nix writes it (field order, nix32 hashes, base-name references). */
export function serializeNarInfo(info: NarInfo, storeDir: string): string {
  const baseName = (path: string): string => parseStorePath(path, storeDir).baseName;
  let out = `StorePath: ${info.storePath}\n`;
  out += `URL: ${info.url}\n`;
  out += `Compression: ${info.compression}\n`;
  if (info.fileHash) out += `FileHash: ${info.fileHash.format('nix32')}\n`;
  if (info.fileSize !== undefined) out += `FileSize: ${info.fileSize}\n`;
  out += `NarHash: ${info.narHash.format('nix32')}\n`;
  out += `NarSize: ${info.narSize}\n`;
  // Written even when empty (`References: ` with its trailing space), as Nix does.
  out += `References: ${info.references.map(baseName).sort().join(' ')}\n`;
  if (info.deriver !== undefined) out += `Deriver: ${baseName(info.deriver)}\n`;
  if (info.system) out += `System: ${info.system}\n`;
  for (const sig of [...new Set(info.sigs)].sort()) out += `Sig: ${sig}\n`;
  if (info.ca !== undefined) out += `CA: ${info.ca}\n`;
  return out;
}

/**
 * The message a `Sig:` signs: `1;<path>;sha256:<nix32>;<narSize>;<sorted references, comma-joined>`.
 * Deriver, CA and the NAR file are not covered.
 */
export function narInfoFingerprint(info: Pick<NarInfo, 'storePath' | 'narHash' | 'narSize' | 'references'>): string {
  if (info.narHash.algo !== 'sha256') {
    throw new FormatError(`cannot calculate fingerprint of path '${info.storePath}' because its NAR hash is not SHA-256`);
  }
  if (info.narSize === 0) {
    throw new FormatError(`cannot calculate fingerprint of path '${info.storePath}' because its size is not known`);
  }
  return `1;${info.storePath};${info.narHash.format('nix32')};${info.narSize};${[...info.references].sort().join(',')}`;
}
