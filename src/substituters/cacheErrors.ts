/** What can go wrong talking to a binary cache or taking a path from it. */
import { SubstituterError } from './errors.js';

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
