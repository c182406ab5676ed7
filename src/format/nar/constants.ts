/** The fixed words and limits of the NAR grammar (spec/nar.md section 2). */

export const NAR_MAGIC = 'nix-archive-1';

/** Longest keyword of the grammar is the magic (13 bytes); anything longer is not a token. */
export const MAX_TOKEN_LENGTH = 16;

/** NAME_MAX on Linux; Nix cannot create a longer entry either. */
export const MAX_NAME_LENGTH = 255;

/** PATH_MAX minus the terminating NUL: the longest target symlink(2) accepts. */
export const MAX_TARGET_LENGTH = 4095;

/** Marker that the case hack appends to colliding names (spec/nar.md section 6). */
export const CASE_HACK_SUFFIX = '~nix~case~hack~';
