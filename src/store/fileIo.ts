/**
 * File calls Node.js lacks, from the small addon in addon-c/ (fileIo.c): a small file read
 * or written whole in one call relative to its directory's descriptor (openat), a tree
 * removed and a batch of entries moved the same way (unlinkat, renameat), and sendfile. A
 * tree of 100,000 small files costs Node 400,000 calls through its fs binding, each open
 * walking the whole path again; these make it one call per file.
 *
 * Where the addon is not there (not built, another platform) `fileIo()` is null and the
 * callers use plain fs calls, which give the same results more slowly.
 */
import { createRequire } from 'node:module';
import { getSystemErrorMap } from 'node:util';
import { packageFile } from '../packagePaths.js';

export const enum ReadStatus {
  Read = 0,
  /** Not a regular file, or larger than the limit: nothing was read. */
  NotRead = 1,
  /** Fewer bytes than its size: the file changed while it was read. */
  Short = 2,
}

export interface FileIo {
  /** See fileIo.c; `result` gets [size, st_mode, failed call (0 open, 1 fstat, 2 read)]. */
  readFileAt(dirFd: number, name: string, buffer: Buffer, offset: number, limit: number, result: Float64Array): number;
  writeFileAt(dirFd: number, name: string, buffer: Buffer, start: number, end: number, mode: number, mtime: number): number;
  sendFile(outFd: number, inFd: number, offset: number, count: number): number;
  /** See fileIo.c; `result` gets the bytes freed. */
  removeTree(parentPath: string, name: string, maxDepth: number, result: Float64Array): number;
  /** See fileIo.c; `result` gets the index of the name that failed. */
  renameEntries(fromDir: string, toDir: string, names: string[], result: Float64Array): number;
}

/** Subtracted from a negative errno by writeFileAt when the file was created but writing it failed. */
export const WRITE_FAILED = 4096;

let addon: FileIo | null | undefined;
let disabled = false;

/** Plain fs calls from now on (`false`), as where the addon is not built; for tests of that path. */
export function useFileIo(enabled: boolean): void {
  disabled = !enabled;
}

export function fileIo(): FileIo | null {
  if (disabled) return null;
  if (addon === undefined) {
    try {
      addon = createRequire(import.meta.url)(packageFile('addon-c/file-io.node')) as FileIo;
      if (typeof addon.readFileAt !== 'function' || typeof addon.renameEntries !== 'function') addon = null;
    } catch {
      addon = null;
    }
  }
  return addon;
}

/** The error Node's own fs call would have thrown for `-status`. */
export function errnoError(status: number, syscall: string, path: string): NodeJS.ErrnoException {
  const [code, description] = getSystemErrorMap().get(status) ?? ['UNKNOWN', 'unknown error'];
  return Object.assign(new Error(`${code}: ${description}, ${syscall} '${path}'`), { errno: status, code, syscall, path });
}
