/**
 * How a binary cache's files are reached: the same relative names (`nix-cache-info`,
 * `<hashpart>.narinfo`, `nar/…`) over a directory (`file://`) or HTTP(S). The cache logic
 * (binaryCache.ts) sees only this interface, so a test can give it any other.
 */
export interface CacheTransport {
  /** The cache's URL as the user wrote it, for messages. */
  readonly uri: string;
  /** A small file's bytes, or undefined when the cache does not have it (404, ENOENT). */
  getFile(name: string, signal?: AbortSignal): Promise<Buffer | undefined>;
  /** A large file as a stream of chunks; a missing file is an error. */
  streamFile(name: string, signal?: AbortSignal): AsyncIterable<Buffer>;
  /** Writes `name` (atomically: readers never see half a file). */
  putFile(name: string, content: AsyncIterable<Buffer> | Buffer): Promise<void>;
  /** Whether `name` exists. */
  hasFile(name: string, signal?: AbortSignal): Promise<boolean>;
  /** Lets go of connections. */
  close(): Promise<void>;
}
