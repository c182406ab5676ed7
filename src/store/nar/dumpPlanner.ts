/**
 * The walk of dumpPath: visits a tree in NAR order (entries sorted byte-wise) with its own
 * stack of open directories, and queues what the NAR needs, one item per grammar element.
 * The dumper drains the queue; the planner can run ahead of it, so that files can be
 * prefetched in the order they will be written.
 */
import { closeSync, constants, lstatSync, openSync } from 'node:fs';
import { fileIo } from '../fileIo.js';
import { childPath, Kind, kindOf, listDirectory, type FsPath } from './listDirectory.js';

export { Kind, showPath, type FsPath } from './listDirectory.js';

export const enum Step {
  DirectoryStart,
  DirectoryEnd,
  Entry,
  Node,
}

/** `Node` is a file, symlink or unsupported object; `DirectoryEnd` closes an entry too when `isEntry`. */
export interface PlanItem {
  step: Step;
  kind: Kind;
  path: FsPath;
  name: string;
  isEntry: boolean;
  /** The helper's job number of a delegated subdirectory. */
  job: number;
  /**
   * An open descriptor: of the parent directory for an entry's node (-1 for the root, or
   * without the file addon), of the directory itself for a `DirectoryEnd`.
   */
  dirFd: number;
  /** The node's name in that parent directory, as on disk (latin1). */
  diskName: string;
}

/**
 * Directories held open at once, at most; deeper ones are read by path. A dump must not run
 * out of descriptors on a tree thousands of directories deep.
 */
export const MAX_DIRECTORY_FDS = 256;
/** O_NOFOLLOW: a directory replaced by a symlink since it was listed is not entered. */
const DIRECTORY_FLAGS = constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW;

interface OpenDirectory {
  path: FsPath;
  /** Its descriptor for reading entries relative to it, or -1. */
  fd: number;
  narNames: string[];
  diskNames: string[];
  kinds: Kind[];
  /** Helper job numbers of the delegated entries, by index. */
  jobs: number[] | undefined;
  index: number;
  isEntry: boolean;
}


export class DumpPlanner {
  private readonly items: PlanItem[] = [];
  private head = 0;
  private readonly open: OpenDirectory[] = [];
  /** Set once a helper thread exists: returns a job number for a delegated subdirectory. */
  delegator: { canTake: boolean; delegate: (path: FsPath) => number } | undefined;
  /** Directory descriptors opened and not yet closed by `closeDirectory` (see close()). */
  private readonly fds = new Set<number>();
  private readonly openDescriptors = fileIo() !== null;

  constructor(
    root: FsPath,
    private readonly useCaseHack: boolean,
  ) {
    this.node(root, kindOf(lstatSync(root)), false, -1, -1, '');
  }

  get done(): boolean {
    return this.open.length === 0;
  }

  get queued(): number {
    return this.items.length - this.head;
  }

  next(): PlanItem | undefined {
    while (this.queued === 0 && !this.done) this.advance();
    if (this.queued === 0) return undefined;
    const item = this.items[this.head++]!;
    if (this.head === this.items.length) {
      this.items.length = 0;
      this.head = 0;
    }
    return item;
  }

  /** Plans one more entry of the innermost open directory (or closes it). */
  advance(): void {
    const directory = this.open[this.open.length - 1]!;
    const index = directory.index++;
    if (index === directory.narNames.length) {
      this.open.pop();
      const end = { step: Step.DirectoryEnd, kind: Kind.Directory, path: directory.path, name: '', isEntry: directory.isEntry, job: -1 };
      this.items.push({ ...end, dirFd: directory.fd, diskName: '' });
      return;
    }
    const diskName = directory.diskNames[index]!;
    const path = childPath(directory.path, diskName);
    this.items.push({ step: Step.Entry, kind: Kind.Other, path, name: directory.narNames[index]!, isEntry: true, job: -1, dirFd: -1, diskName: '' });
    this.node(path, directory.kinds[index]!, true, directory.jobs?.[index] ?? -1, directory.fd, diskName);
  }

  /** Dumps a delegated subdirectory here after all (the dumper took the job back). */
  expand(item: PlanItem): void {
    if (this.queued !== 0) throw new Error('dumpPath: a delegated directory can only be expanded next');
    this.node(item.path, Kind.Directory, item.isEntry, -1, item.dirFd, item.diskName);
  }

  /** The dumper is done with a directory (its `DirectoryEnd`): its descriptor is closed. */
  closeDirectory(item: PlanItem): void {
    if (item.dirFd >= 0 && this.fds.delete(item.dirFd)) closeSync(item.dirFd);
  }

  /** Closes every directory descriptor still open: for a dump that ends early or fails. */
  close(): void {
    for (const fd of this.fds) closeSync(fd);
    this.fds.clear();
  }

  private node(path: FsPath, kind: Kind, isEntry: boolean, job: number, dirFd: number, diskName: string): void {
    if (kind !== Kind.Directory) {
      this.items.push({ step: Step.Node, kind, path, name: '', isEntry, job, dirFd, diskName });
      return;
    }
    this.items.push({ step: Step.DirectoryStart, kind, path, name: '', isEntry, job: -1, dirFd, diskName });
    // Opened before it is listed: entries are then read relative to the directory listed
    // (or, if it was swapped meanwhile, fail to be found), never through a symlink.
    const fd = this.openDescriptors && this.fds.size < MAX_DIRECTORY_FDS ? openSync(path, DIRECTORY_FLAGS) : -1;
    let listing;
    try {
      listing = listDirectory(path, this.useCaseHack);
    } catch (e) {
      // Not yet known to close(): the root's planner may not even exist for its caller.
      if (fd >= 0) closeSync(fd);
      throw e;
    }
    if (fd >= 0) this.fds.add(fd);
    this.open.push({ path, fd, ...listing, jobs: undefined, index: 0, isEntry });
  }

  /**
   * Hands out work to an idle helper: every second subdirectory not yet reached, in the
   * outermost open directory that has some (big subtrees, disjoint paths). Jobs go out only
   * when all earlier ones have been reached, so they stay in NAR order.
   */
  delegateRemaining(): void {
    const delegator = this.delegator;
    if (!delegator) return;
    for (const directory of this.open) {
      let subdirectories = 0;
      let delegated = false;
      for (let index = directory.index; index < directory.kinds.length; index++) {
        if (directory.kinds[index] !== Kind.Directory || subdirectories++ % 2 === 0) continue;
        if (!delegator.canTake) return;
        (directory.jobs ??= [])[index] = delegator.delegate(childPath(directory.path, directory.diskNames[index]!));
        directory.kinds[index] = Kind.Delegated;
        delegated = true;
      }
      if (delegated) return;
    }
  }
}
