/** Dumping paths to NARs and restoring NARs to paths (the file system side of spec/nar.md). */
export { dumpPath, dumpPathSync, type DumpPathOptions } from './dumpPath.js';
export { restorePath, DEFAULT_RESTORE_DEPTH, type RestorePathOptions, type RestoreResult } from './restorePath.js';
export { NarDumpError, NarRestoreError } from './errors.js';
