import { closeSync, constants, fstatSync, mkdirSync, openSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { flockSync } from 'fs-ext';
import { SandboxPolicyError } from './errors.js';

/** A build user held for the length of one build; release() gives it back. */
export interface BuildUser {
  uid: number;
  gid: number;
  name: string;
  release(): void;
}

const heldInThisProcess = new Set<number>();

interface GroupEntry {
  gid: number;
  members: string[];
}

/** /etc/group and /etc/passwd, read again only when they change (a large graph asks per build). */
const fileCache = new Map<string, { mtimeMs: number; size: number; lines: string[] }>();

function linesOf(path: string): string[] {
  const stat = statSync(path);
  const cached = fileCache.get(path);
  if (cached && cached.mtimeMs === stat.mtimeMs && cached.size === stat.size) return cached.lines;
  const lines = readFileSync(path, 'utf8').split('\n');
  fileCache.set(path, { mtimeMs: stat.mtimeMs, size: stat.size, lines });
  return lines;
}

function readGroup(group: string, groupFile: string): GroupEntry | undefined {
  for (const line of linesOf(groupFile)) {
    const [name, , gid, members] = line.split(':');
    if (name === group && gid !== undefined) {
      return { gid: Number(gid), members: (members ?? '').split(',').filter((m) => m !== '') };
    }
  }
  return undefined;
}

/** The gid of `group` in /etc/group, if there is such a group. */
export function groupId(group: string, groupFile = '/etc/group'): number | undefined {
  return readGroup(group, groupFile)?.gid;
}

/** Parsed once per version of the file (linesOf gives the same array until it changes). */
const uidMaps = new WeakMap<string[], Map<string, number>>();

function readUids(passwdFile: string): Map<string, number> {
  const lines = linesOf(passwdFile);
  let uids = uidMaps.get(lines);
  if (uids) return uids;
  uids = new Map<string, number>();
  for (const line of lines) {
    const [name, , uid] = line.split(':');
    if (name && uid !== undefined) uids.set(name, Number(uid));
  }
  uidMaps.set(lines, uids);
  return uids;
}

function isBusy(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException).code;
  return code === 'EWOULDBLOCK' || code === 'EAGAIN';
}

/**
 * Lock files of build users, opened once per process and kept open: a build locks and
 * unlocks its user's file (an open, with its truncation on a journalled disk, and a close
 * per build cost ~0.1 ms). Keyed by path.
 */
const lockFiles = new Map<string, number>();

function lockFileOf(userPoolDir: string, uid: number): number {
  const path = join(userPoolDir, String(uid));
  let fd = lockFiles.get(path);
  // A lock file deleted meanwhile locks nothing any other process would see.
  if (fd !== undefined && fstatSync(fd).nlink === 0) {
    closeSync(fd);
    fd = undefined;
  }
  if (fd === undefined) {
    // Not truncated: the file's content means nothing, only its lock (as nix's userpool files).
    const open = (): number => openSync(path, constants.O_RDWR | constants.O_CREAT, 0o600);
    try {
      fd = open();
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      mkdirSync(userPoolDir, { recursive: true, mode: 0o755 });
      fd = open();
    }
    lockFiles.set(path, fd);
  }
  return fd;
}

/**
 * Takes a free member of `build-users-group`, one uid per concurrent build, as Nix does: a
 * member is free when no build of this process holds it and its lock file in `userPoolDir`
 * (shared with other tsnix processes) is not locked.
 */
export function acquireBuildUser(
  group: string,
  userPoolDir: string,
  files: { group: string; passwd: string } = { group: '/etc/group', passwd: '/etc/passwd' },
): BuildUser {
  const entry = readGroup(group, files.group);
  if (!entry) throw new SandboxPolicyError(`the group '${group}' specified in 'build-users-group' does not exist`);
  if (entry.members.length === 0) throw new SandboxPolicyError(`the build users group '${group}' has no members`);
  const uids = readUids(files.passwd);
  for (const name of entry.members) {
    const uid = uids.get(name);
    if (uid === undefined || uid === 0 || heldInThisProcess.has(uid)) continue;
    const fd = lockFileOf(userPoolDir, uid);
    try {
      flockSync(fd, 'exnb');
    } catch (error) {
      if (isBusy(error)) continue;
      throw error;
    }
    heldInThisProcess.add(uid);
    let released = false;
    return {
      uid,
      gid: entry.gid,
      name,
      release(): void {
        if (released) return;
        released = true;
        heldInThisProcess.delete(uid);
        flockSync(fd, 'un');
      },
    };
  }
  throw new SandboxPolicyError(`all build users are currently in use; consider creating additional users and adding them to the '${group}' group`);
}
