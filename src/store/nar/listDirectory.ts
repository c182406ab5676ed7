/**
 * Reading a directory for the dumper: entry names with their exact bytes, in NAR order, the
 * case hack applied, and each entry's kind from readdir (no stat per entry).
 */
import { readdirSync, type Dirent, type Stats } from 'node:fs';
import { unhackDirectory } from '../../format/nar/caseHack.js';

export type FsPath = string | Buffer;

export const enum Kind {
  Regular,
  Symlink,
  Directory,
  Other,
  /** A subdirectory handed to the helper thread; `ticket` is its job number. */
  Delegated,
}

const NON_ASCII = /[^\x00-\x7f]/;

export function kindOf(entry: Stats | Dirent<string>): Kind {
  if (entry.isFile()) return Kind.Regular;
  if (entry.isDirectory()) return Kind.Directory;
  if (entry.isSymbolicLink()) return Kind.Symlink;
  return Kind.Other;
}

/**
 * Names in NAR order. latin1 maps each byte to one char, so names keep their exact bytes and
 * plain string order is the byte-wise order the NAR requires.
 */
export function listDirectory(path: FsPath, useCaseHack: boolean): { narNames: string[]; diskNames: string[]; kinds: Kind[] } {
  const entries = readdirSync(path, { encoding: 'latin1', withFileTypes: true });
  if (useCaseHack) {
    const kindByName = new Map(entries.map((entry) => [entry.name, kindOf(entry)]));
    const hacked = unhackDirectory(entries.map((entry) => Buffer.from(entry.name, 'latin1')), showPath(path));
    const diskNames = hacked.map((entry) => entry.diskName.toString('latin1'));
    return { narNames: hacked.map((entry) => entry.narName.toString('latin1')), diskNames, kinds: diskNames.map((name) => kindByName.get(name)!) };
  }
  entries.sort((a, b) => (a.name < b.name ? -1 : 1));
  const names = entries.map((entry) => entry.name);
  return { narNames: names, diskNames: names, kinds: entries.map(kindOf) };
}

/** Strings while every name is ASCII (cheap to join); raw bytes once a name is not. */
export function childPath(parent: FsPath, name: string): FsPath {
  if (typeof parent === 'string' && !NON_ASCII.test(name)) return `${parent}/${name}`;
  const parentBytes = typeof parent === 'string' ? Buffer.from(parent, 'utf8') : parent;
  return Buffer.concat([parentBytes, Buffer.from(`/${name}`, 'latin1')]);
}

export function showPath(path: FsPath): string {
  return typeof path === 'string' ? path : path.toString('utf8');
}
