/** Errors of the pure format layer. Each message names what was wrong and where. */

export class FormatError extends Error {
  override name = 'FormatError';
}

/** A hash string or digest that cannot be parsed or has the wrong size. */
export class BadHashError extends FormatError {
  override name = 'BadHashError';
}

/** A store path or store path name that Nix would reject. */
export class InvalidPathError extends FormatError {
  override name = 'InvalidPathError';
}

/** A malformed NAR stream (bad token, order, name, truncation, padding). */
export class NarFormatError extends FormatError {
  override name = 'NarFormatError';
}

/** A malformed `.drv` file (ATerm) or derivation JSON. */
export class DerivationFormatError extends FormatError {
  override name = 'DerivationFormatError';
}

/** A malformed wire message: the framing of both protocols and the export format. */
export class WireFormatError extends FormatError {
  override name = 'WireFormatError';
}
