import { closeSync, mkdirSync, openSync, readFileSync, statSync } from 'node:fs';
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

function readUids(passwdFile: string): Map<string, number> {
  const uids = new Map<string, number>();
  for (const line of linesOf(passwdFile)) {
    const [name, , uid] = line.split(':');
    if (name && uid !== undefined) uids.set(name, Number(uid));
  }
  return uids;
}

function isBusy(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException).code;
  return code === 'EWOULDBLOCK' || code === 'EAGAIN';
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
  mkdirSync(userPoolDir, { recursive: true, mode: 0o755 });
  for (const name of entry.members) {
    const uid = uids.get(name);
    if (uid === undefined || uid === 0 || heldInThisProcess.has(uid)) continue;
    const fd = openSync(join(userPoolDir, String(uid)), 'w', 0o600);
    try {
      flockSync(fd, 'exnb');
    } catch (error) {
      closeSync(fd);
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
        closeSync(fd);
      },
    };
  }
  throw new SandboxPolicyError(`all build users are currently in use; consider creating additional users and adding them to the '${group}' group`);
}
