/**
 * Who is at the other end of a daemon connection: the kernel's SO_PEERCRED (through the
 * small addon in addon-c/), and the user and group names nix.conf's `allowed-users` and
 * `trusted-users` speak of.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { Socket } from 'node:net';
import { packageFile } from '../packagePaths.js';

export interface PeerCredentials {
  pid: number;
  uid: number;
  gid: number;
}

interface Addon {
  peerCredentials(fd: number): PeerCredentials | null;
}

let addon: Addon | null | undefined;

/** Whether peers can be told apart here (the addon is built and loads). */
export function canReadPeers(): boolean {
  if (addon === undefined) {
    try {
      addon = createRequire(import.meta.url)(packageFile('addon-c/socket-options.node')) as Addon;
      if (typeof addon.peerCredentials !== 'function') addon = null;
    } catch {
      addon = null;
    }
  }
  return addon !== null;
}

/** The credentials of a connected Unix socket's peer, or undefined when they cannot be read. */
export function peerOf(socket: Socket): PeerCredentials | undefined {
  if (!canReadPeers()) return undefined;
  const fd = (socket as unknown as { _handle?: { fd?: unknown } })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) return undefined;
  return addon!.peerCredentials(fd) ?? undefined;
}

/** `name:…:id:…` lines of /etc/passwd or /etc/group: id → fields. */
function readDatabase(file: string): string[][] {
  try {
    return readFileSync(file, 'utf8')
      .split('\n')
      .filter((line) => line !== '' && !line.startsWith('#'))
      .map((line) => line.split(':'));
  } catch {
    return [];
  }
}

export interface PeerIdentity {
  user: string;
  group: string;
}

/** The names of a peer's user and primary group (the numbers, as nix, when unknown). */
export function identify(peer: PeerCredentials, etc = '/etc'): PeerIdentity {
  const user = readDatabase(`${etc}/passwd`).find((f) => Number(f[2]) === peer.uid)?.[0] ?? String(peer.uid);
  const group = readDatabase(`${etc}/group`).find((f) => Number(f[2]) === peer.gid)?.[0] ?? String(peer.gid);
  return { user, group };
}

/**
 * nix.conf's user lists: `*` is everyone, `@group` the members of a group (by primary
 * group or membership), any other word a user name.
 */
export function matchUser(identity: PeerIdentity, users: readonly string[], etc = '/etc'): boolean {
  if (users.includes('*') || users.includes(identity.user)) return true;
  const groups = users.filter((u) => u.startsWith('@')).map((u) => u.slice(1));
  if (groups.length === 0) return false;
  if (groups.includes(identity.group)) return true;
  const database = readDatabase(`${etc}/group`);
  return groups.some((name) => (database.find((f) => f[0] === name)?.[3] ?? '').split(',').includes(identity.user));
}
