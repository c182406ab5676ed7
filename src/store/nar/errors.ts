/** Errors of dumping a path to a NAR and restoring a NAR to a path. */

/** A file system object that cannot be put into a NAR, or that changed while being dumped. */
export class NarDumpError extends Error {
  override name = 'NarDumpError';
}

/** A NAR that is well-formed but cannot be restored at the requested place. */
export class NarRestoreError extends Error {
  override name = 'NarRestoreError';
}
