/**
 * A binary cache as a substituter: `nix-cache-info` once, a `.narinfo` per path asked for,
 * and the NAR of a path streamed through decompression straight into a temporary directory
 * of the store while it is hashed, so it is read once and checked against the narinfo's
 * `NarHash` and `NarSize` before anything becomes valid. The signature is checked before
 * the download starts.
 */
import { contentAddressPath, parseContentAddress } from '../format/contentAddress.js';
import { Hash } from '../format/hash.js';
import { narInfoFingerprint, parseNarInfo, type NarInfo } from '../format/narinfo.js';
import { parseNixCacheInfo } from '../format/nixCacheInfo.js';
import { verifySignature, type PublicKey } from '../format/signing.js';
import { contentAddressMismatch } from '../store/contentAddressHash.js';
import { parseStorePath } from '../format/storePath.js';
import { commitPath, replacePath } from '../store/commitPath.js';
import type { LocalStore } from '../store/localStore.js';
import { restorePath } from '../store/nar/restorePath.js';
import { makePathInfo } from '../store/pathInfo.js';
import { TempDir } from '../store/tempPath.js';
import { checkCacheStoreDir, narInfoName } from './cacheNames.js';
import { CacheInfoError, SubstituteRejectedError, TransientCacheError } from './errors.js';
import type { NarInfoDiskCache } from './narInfoDiskCache.js';
import { decompress, parseCompression, type Compression } from './compression.js';
import type { CacheTransport } from './transport.js';

/** A path downloaded and checked into a temporary directory, made valid by `commit`. */
export interface DownloadedPath {
  commit(): Promise<void>;
  replace(): Promise<void>;
  discard(): void;
}

export interface BinaryCacheOptions {
  /** The store directory paths must be in (the cache's `StoreDir` must be the same). */
  storeDir: string;
  /** `trusted-public-keys`. */
  trustedKeys: readonly PublicKey[];
  /** `require-sigs`: a path needs a valid signature of a trusted key, or a content address that checks. */
  requireSigs: boolean;
  /** The `priority=` store parameter; else the cache's own `Priority`, else 0 as in Nix 2.8. */
  priority?: number;
  /** The `trusted=1` store parameter: its paths need no signature. */
  trusted?: boolean;
  /** `download-attempts`: a download that breaks off is started again, this many times in all. */
  attempts?: number;
  /** Answers remembered between commands. */
  diskCache?: NarInfoDiskCache;
}

/** What a cache says of a path it has. */
export interface CachedPathInfo {
  references: string[];
  deriver?: string;
  /** Bytes to download (`FileSize`), when the cache says. */
  downloadSize?: number;
  narSize: number;
  narInfo: NarInfo;
}

interface CacheInfo {
  priority: number;
  wantMassQuery: boolean;
}

export class BinaryCache {
  private info: Promise<CacheInfo> | undefined;
  /** Answers already had: a narinfo, or null for a path the cache does not have. */
  private readonly known = new Map<string, Promise<NarInfo | undefined>>();

  constructor(
    readonly transport: CacheTransport,
    private readonly options: BinaryCacheOptions,
  ) {}

  get uri(): string {
    return this.transport.uri;
  }

  /** Reads `nix-cache-info` (once): a cache serving another store directory is refused. */
  cacheInfo(signal?: AbortSignal): Promise<CacheInfo> {
    this.info ??= (async () => {
      let parsed = this.options.diskCache?.cacheInfo(this.uri);
      if (!parsed) {
        const bytes = await this.transport.getFile('nix-cache-info', signal);
        if (bytes === undefined) throw new CacheInfoError(`binary cache '${this.uri}' is not valid: it has no 'nix-cache-info' file`);
        const read = parseNixCacheInfo(bytes.toString('utf8'), `${this.uri}/nix-cache-info`);
        parsed = { storeDir: read.storeDir, priority: read.priority, wantMassQuery: read.wantMassQuery };
        this.options.diskCache?.rememberCacheInfo(this.uri, parsed);
      }
      checkCacheStoreDir(this.uri, parsed.storeDir, this.options.storeDir);
      return { priority: this.options.priority ?? parsed.priority ?? 0, wantMassQuery: parsed.wantMassQuery };
    })();
    // A failed attempt is not remembered: the next query tries again.
    this.info.catch(() => (this.info = undefined));
    return this.info;
  }

  async priority(signal?: AbortSignal): Promise<number> {
    return (await this.cacheInfo(signal)).priority;
  }

  /**
   * The narinfo of `path`, or undefined when the cache does not have it. Asked once: the plan
   * and the goals that want it meanwhile share the answer, and one that failed is asked again.
   */
  narInfo(path: string, signal?: AbortSignal): Promise<NarInfo | undefined> {
    let known = this.known.get(path);
    if (!known) {
      known = this.readNarInfo(path, signal);
      this.known.set(path, known);
      known.catch(() => this.known.delete(path));
    }
    return known;
  }

  private async readNarInfo(path: string, signal?: AbortSignal): Promise<NarInfo | undefined> {
    const { hashPart } = parseStorePath(path, this.options.storeDir);
    const name = narInfoName(path, this.options.storeDir);
    const remembered = this.options.diskCache?.narInfo(this.uri, hashPart);
    // The first narinfo is asked for together with nix-cache-info, not after it: a round trip
    // less. Its answer is used only once nix-cache-info has shown the cache fit for this store.
    const cacheInfo = this.cacheInfo(signal);
    const bytes = remembered === undefined ? this.transport.getFile(name, signal) : undefined;
    bytes?.catch(() => {});
    await cacheInfo;
    let text: string | null;
    if (remembered !== undefined) {
      text = remembered;
    } else {
      const got = await bytes!;
      text = got === undefined ? null : got.toString('utf8');
    }
    const info = text === null ? undefined : parseNarInfo(text, this.options.storeDir, `${this.uri}/${name}`);
    if (info && info.storePath !== path) {
      throw new SubstituteRejectedError(`binary cache '${this.uri}': '${name}' describes '${info.storePath}', not '${path}'`);
    }
    // Only what was sound is remembered: a broken narinfo is asked for again next time.
    if (remembered === undefined) this.options.diskCache?.rememberNarInfo(this.uri, hashPart, text);
    return info;
  }

  /** Asks for the narinfos of `paths` now; `query` later gets the same answers. Failures wait for it. */
  prefetch(paths: string[], signal?: AbortSignal): void {
    for (const path of paths) this.narInfo(path, signal).catch(() => {});
  }

  /** Which of `paths` the cache has, all asked for at once. */
  async query(paths: string[], signal?: AbortSignal): Promise<Map<string, CachedPathInfo>> {
    const found = new Map<string, CachedPathInfo>();
    const infos = await Promise.all(paths.map((path) => this.narInfo(path, signal)));
    for (const [i, info] of infos.entries()) {
      if (!info) continue;
      found.set(paths[i]!, {
        references: info.references,
        ...(info.deriver !== undefined ? { deriver: info.deriver } : {}),
        ...(info.fileSize !== undefined ? { downloadSize: info.fileSize } : {}),
        narSize: info.narSize,
        narInfo: info,
      });
    }
    return found;
  }

  /**
   * Whether the narinfo may be trusted under `require-sigs` (Nix's rule, binary-cache.md §5):
   * 'content' means only its content address vouches for it, so the content must be checked
   * against that address once it is here.
   */
  private checkTrust(info: NarInfo): 'unchecked' | 'signed' | 'content' {
    if (!this.options.requireSigs || this.options.trusted) return 'unchecked';
    const fingerprint = narInfoFingerprint(info);
    if (info.sigs.some((sig) => verifySignature(sig, fingerprint, this.options.trustedKeys))) return 'signed';
    if (info.ca !== undefined && contentAddressChecks(info, this.options.storeDir)) return 'content';
    throw new SubstituteRejectedError(`substituter '${this.uri}' does not have a valid signature for path '${info.storePath}'`);
  }

  /** Refuses `path` when its narinfo cannot be trusted, before anything of it is fetched. */
  async vouch(path: string, signal?: AbortSignal): Promise<void> {
    const info = await this.narInfo(path, signal);
    if (!info) throw new SubstituteRejectedError(`binary cache '${this.uri}' does not have '${path}'`);
    this.checkTrust(info);
  }

  /**
   * Downloads `path` into a temporary directory of `store`, checked against the narinfo;
   * `commit` then makes it valid with the narinfo's references, deriver, signatures and
   * content address (its references must be valid by then).
   */
  async fetch(store: LocalStore, path: string, signal?: AbortSignal, onBytes?: (bytes: number) => void, onDownloaded?: () => void): Promise<DownloadedPath> {
    const info = await this.narInfo(path, signal);
    if (!info) throw new SubstituteRejectedError(`binary cache '${this.uri}' does not have '${path}'`);
    const trust = this.checkTrust(info);
    const compression = parseCompression(info.compression, `${this.uri}/${narInfoName(path, this.options.storeDir)}`);
    const attempts = Math.max(1, this.options.attempts ?? 1);
    for (let tried = 1; ; tried++) {
      try {
        return await this.download(store, info, compression, trust === 'content', signal, onBytes, onDownloaded);
      } catch (error) {
        // A broken connection may heal; a wrong or corrupt substitute stays what it is.
        if (!(error instanceof TransientCacheError) || signal?.aborted || tried >= attempts) {
          if (tried > 1) (error as Error).message += ` (after ${tried} attempts)`;
          throw error;
        }
      }
    }
  }

  /** One attempt: stream, decompress and unpack while hashing; keep only what matches the narinfo. */
  private async download(
    store: LocalStore,
    info: NarInfo,
    compression: Compression,
    checkContent: boolean,
    signal?: AbortSignal,
    onBytes?: (bytes: number) => void,
    onDownloaded?: () => void,
  ): Promise<DownloadedPath> {
    const path = info.storePath;
    // The request goes out first; the temporary directory is made while the answer travels.
    const download = started(this.transport.streamFile(info.url, signal));
    let temp: TempDir;
    try {
      temp = await TempDir.create(store.layout, 'substitute', store.onWait);
    } catch (error) {
      await download.cancel();
      throw error;
    }
    try {
      const source = `${this.uri}/${info.url}`;
      // No more than the narinfo states is ever written: a NAR that inflates past it is cut off.
      const raw = bounded(counted(download.chunks, onBytes, onDownloaded), info.fileSize, `${source} is larger than its narinfo's FileSize`);
      const nar = bounded(decompress(compression, raw, source), info.narSize, `the NAR of '${path}' from '${this.uri}' is larger than its narinfo's NarSize`);
      const got = await restorePath(temp.contentPath, nar, { useCaseHack: store.useCaseHack, hashOnThread: info.narSize > 8 << 20 });
      if (!got.narHash.equals(info.narHash) || got.narSize !== info.narSize) {
        throw new SubstituteRejectedError(
          `hash mismatch importing path '${path}' from '${this.uri}': the narinfo says ${info.narHash.format('nix32')} (${info.narSize} bytes), ` +
            `the NAR is ${got.narHash.format('nix32')} (${got.narSize} bytes)`,
        );
      }
      if (checkContent) await checkContentAddress(info, temp.contentPath, got.narHash);
      const pathInfo = makePathInfo({
        path,
        narHash: got.narHash,
        narSize: got.narSize,
        references: info.references,
        ...(info.deriver !== undefined ? { deriver: info.deriver } : {}),
        sigs: info.sigs,
        ...(info.ca !== undefined ? { ca: info.ca } : {}),
      });
      const kept = temp;
      return {
        commit: async () => {
          await commitPath(store, kept, pathInfo);
        },
        replace: () => replacePath(store, kept, pathInfo),
        discard: () => kept.remove(),
      };
    } catch (error) {
      // A download never read (a decompressor that failed to load, say) is let go of too.
      void download.cancel();
      temp.remove();
      throw error;
    }
  }

  async close(): Promise<void> {
    this.options.diskCache?.flush();
    await this.transport.close();
  }
}

/** The same chunks, failing as soon as more than `limit` bytes (when known) have passed. */
async function* bounded(chunks: AsyncIterable<Buffer>, limit: number | undefined, message: string): AsyncIterable<Buffer> {
  let total = 0;
  for await (const chunk of chunks) {
    total += chunk.length;
    if (limit !== undefined && total > limit) throw new SubstituteRejectedError(message);
    yield chunk;
  }
}

/**
 * An unsigned path accepted for its content address: what arrived must have that address
 * (the NarHash the cache states proves nothing). As Nix's "ca hash mismatch".
 */
async function checkContentAddress(info: NarInfo, contentPath: string, narHash: Hash): Promise<void> {
  const mismatch = await contentAddressMismatch(info.ca!, contentPath, narHash);
  if (mismatch !== undefined) {
    throw new SubstituteRejectedError(`ca hash mismatch importing path '${info.storePath}': the content address says ${mismatch.expected.format('nix32')}, the content is ${mismatch.actual.format('nix32')}`);
  }
}

/**
 * `chunks` with its first chunk asked for now (for a download: the request is sent now), not
 * when it is first read. `cancel` lets go of it when it will not be read.
 */
function started(chunks: AsyncIterable<Buffer>): { chunks: AsyncIterable<Buffer>; cancel(): Promise<void> } {
  const iterator = chunks[Symbol.asyncIterator]();
  const first = iterator.next();
  // A failure is seen by whoever reads; until then it is not unhandled.
  first.catch(() => {});
  const cancel = async (): Promise<void> => {
    await first.catch(() => {});
    await iterator.return?.();
  };
  async function* read(): AsyncGenerator<Buffer> {
    let done = false;
    try {
      let next = await first;
      while (!next.done) {
        yield next.value;
        next = await iterator.next();
      }
      done = true;
    } finally {
      // A reader that stops early (a NAR found too large, say) ends the download too.
      if (!done) await iterator.return?.();
    }
  }
  return { chunks: read(), cancel };
}

/** The same chunks, each told to `onBytes` as it passes, and their end to `onEnd`. */
async function* counted(chunks: AsyncIterable<Buffer>, onBytes: ((bytes: number) => void) | undefined, onEnd?: () => void): AsyncIterable<Buffer> {
  for await (const chunk of chunks) {
    onBytes?.(chunk.length);
    yield chunk;
  }
  onEnd?.();
}

/** A content-addressed path is its own proof: its name follows from its `CA:` and references. */
function contentAddressChecks(info: NarInfo, storeDir: string): boolean {
  try {
    const { name } = parseStorePath(info.storePath, storeDir);
    return contentAddressPath(parseContentAddress(info.ca!), name, info.references, info.storePath, storeDir) === info.storePath;
  } catch {
    // A content address that does not parse proves nothing; the path then needs a signature.
    return false;
  }
}
