/**
 * The case hack (spec/nar.md section 6): how names that differ only by case are renamed when
 * restoring onto a case-insensitive file system, and un-renamed when dumping, so that the NAR
 * is the same on every platform.
 */
import { CASE_HACK_SUFFIX } from './constants.js';
import { CaseHackCollisionError } from './errors.js';
import { compareNames, showName } from './names.js';

const SUFFIX = Buffer.from(CASE_HACK_SUFFIX, 'latin1');

/** Nix compares with strcasecmp in the C locale: only ASCII letters fold. */
function foldCase(name: Uint8Array): string {
  let key = '';
  for (const byte of name) key += String.fromCharCode(byte >= 0x41 && byte <= 0x5a ? byte + 0x20 : byte);
  return key;
}

/**
 * Restore side, one per directory: the first entry with a given case-folded name keeps its
 * name, each later one gets `~nix~case~hack~N` with a per-name counter starting at 1.
 */
export class CaseHackRenamer {
  private readonly seen = new Map<string, number>();

  rename(name: Buffer): Buffer {
    const key = foldCase(name);
    const count = this.seen.get(key);
    if (count === undefined) {
      this.seen.set(key, 0);
      return name;
    }
    this.seen.set(key, count + 1);
    return Buffer.concat([name, SUFFIX, Buffer.from(String(count + 1), 'latin1')]);
  }
}

/** Dump side: the NAR name of an on-disk name, i.e. without the marker and all after it. */
export function unhackName(diskName: Buffer): Buffer {
  const at = diskName.indexOf(SUFFIX);
  return at < 0 ? diskName : diskName.subarray(0, at);
}

export interface HackedEntry {
  /** The name as it goes into the NAR. */
  narName: Buffer;
  /** The name on disk. */
  diskName: Buffer;
}

/**
 * Dump side for a whole directory: un-hacks every name, refuses two names that become one
 * (Nix: "file name collision"), and sorts by the un-hacked name as the NAR requires.
 * `where` names the directory in the error.
 */
export function unhackDirectory(diskNames: readonly Buffer[], where: string): HackedEntry[] {
  const entries = diskNames.map((diskName) => ({ narName: unhackName(diskName), diskName }));
  entries.sort((a, b) => compareNames(a.narName, b.narName));
  for (let i = 1; i < entries.length; i++) {
    const before = entries[i - 1]!;
    const here = entries[i]!;
    if (before.narName.equals(here.narName)) {
      throw new CaseHackCollisionError(
        `file name collision in between '${where}/${showName(before.diskName).slice(1, -1)}' and '${where}/${showName(here.diskName).slice(1, -1)}'`,
      );
    }
  }
  return entries;
}
