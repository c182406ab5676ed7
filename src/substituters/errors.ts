/** Errors of the substituters room: binary caches, their transports and their NAR compression. */

/** The base of every error about taking paths from (or writing them to) a substituter. */
export class SubstituterError extends Error {
  override name = 'SubstituterError';
}

/** A compression method tsnix cannot read or write (unknown, or `lzip`/`lz4`), or a level out of range. */
export class UnsupportedCompressionError extends SubstituterError {
  override name = 'UnsupportedCompressionError';
}

/** A compressed NAR that does not decompress: truncated, corrupt, or not in the format its narinfo says. */
export class CorruptCompressedDataError extends SubstituterError {
  override name = 'CorruptCompressedDataError';
}

/** A cache that cannot be reached or read: the next cache is tried. */
export class CacheAccessError extends SubstituterError {
  override name = 'CacheAccessError';
}

/** A cache whose `nix-cache-info` serves another store directory, or cannot be read. */
export class CacheInfoError extends SubstituterError {
  override name = 'CacheInfoError';
}

/** A substitute refused before or after download: bad signature, hash or size mismatch. */
export class SubstituteRejectedError extends SubstituterError {
  override name = 'SubstituteRejectedError';
}

/** A failure worth another attempt: the server or the network, not the request. */
export class TransientCacheError extends CacheAccessError {
  override name = 'TransientCacheError';
}
