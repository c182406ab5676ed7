/**
 * describeDifferences: what differs between two builds of one output, for `--check`'s
 * report when a derivation "may not be deterministic". Only what a NAR holds is compared
 * (kind, contents, executable bit, symlink target, entry names), so every line explains a
 * NAR hash difference. Symlinks are never followed.
 */
import { lstat, open, readdir, readlink } from 'node:fs/promises';
import { constants, type Stats } from 'node:fs';
import { compareNames } from '../format/nar/names.js';

/** Files up to this size that look like text get their first differing line shown. */
const TEXT_LIMIT = 64 * 1024;
/** Longest excerpt of a line or symlink target shown. */
const EXCERPT_LIMIT = 80;
const COMPARE_CHUNK = 64 * 1024;
/** A file swapped for a symlink after the lstat must not lead the comparison elsewhere. */
const READ_NO_FOLLOW = constants.O_RDONLY | constants.O_NOFOLLOW;

type Kind = 'directory' | 'file' | 'symlink' | 'special file';

function kindOf(stats: Stats): Kind {
  if (stats.isDirectory()) return 'directory';
  if (stats.isFile()) return 'file';
  if (stats.isSymbolicLink()) return 'symlink';
  return 'special file';
}

/** Joins raw names as bytes: entry names need not be UTF-8. */
function child(dir: Buffer, name: Buffer): Buffer {
  return Buffer.concat([dir, Buffer.from('/'), name]);
}

/** A relative path for the report; control characters escaped so a hostile name cannot break the line. */
function show(relative: Buffer): string {
  return relative.length === 0 ? "'.'" : `'${escape(relative.toString('utf8'))}'`;
}

function escape(text: string): string {
  return JSON.stringify(text).slice(1, -1);
}

function excerpt(text: string): string {
  const oneLine = escape(text);
  return oneLine.length > EXCERPT_LIMIT ? `${oneLine.slice(0, EXCERPT_LIMIT)}...` : oneLine;
}

/**
 * Up to `limit` lines such as `'share/doc/x.txt': contents differ`, in sorted (NAR) order,
 * for the trees at `a` (the first build) and `b` (the second). Empty when they are the same.
 */
export async function describeDifferences(a: string, b: string, limit = 10): Promise<string[]> {
  const differences: string[] = [];
  const roots = { first: Buffer.from(a), second: Buffer.from(b) };
  // A stack of what is left to look at, next on top, so deep trees stay off the call stack
  // and the report follows the sorted order of the trees.
  const pending: Pending[] = [{ relative: Buffer.alloc(0), only: undefined }];
  while (pending.length > 0 && differences.length < limit) {
    const { relative, only } = pending.pop()!;
    if (only) {
      differences.push(`${show(relative)}: only in the ${only} build`);
      continue;
    }
    const pathA = under(roots.first, relative);
    const pathB = under(roots.second, relative);
    const [statsA, statsB] = await Promise.all([lstat(pathA), lstat(pathB)]);
    const kindA = kindOf(statsA);
    const kindB = kindOf(statsB);
    const name = show(relative);
    if (kindA !== kindB) {
      differences.push(`${name}: ${article(kindA)} in the first build, ${article(kindB)} in the second`);
    } else if (kindA === 'file') {
      const contents = await compareFiles(pathA, pathB, statsA.size, statsB.size);
      if (contents) differences.push(`${name}: ${contents}`);
      if ((statsA.mode & 0o100) !== (statsB.mode & 0o100)) differences.push(`${name}: executable bit differs`);
    } else if (kindA === 'symlink') {
      const [targetA, targetB] = await Promise.all([readlink(pathA, 'buffer'), readlink(pathB, 'buffer')]);
      if (!targetA.equals(targetB)) {
        differences.push(`${name}: symlink targets differ ('${excerpt(targetA.toString('utf8'))}' / '${excerpt(targetB.toString('utf8'))}')`);
      }
    } else if (kindA === 'directory') {
      const entries = await mergeListings(pathA, pathB, relative);
      for (let i = entries.length - 1; i >= 0; i--) pending.push(entries[i]!);
    }
  }
  return differences.slice(0, limit);
}

/** A path to compare (`only` undefined) or to report as present in one build only. */
interface Pending {
  relative: Buffer;
  only: 'first' | 'second' | undefined;
}

function under(root: Buffer, relative: Buffer): Buffer {
  return relative.length === 0 ? root : child(root, relative);
}

function article(kind: Kind): string {
  return kind === 'directory' ? 'a directory' : kind === 'file' ? 'a file' : kind === 'symlink' ? 'a symlink' : 'a special file';
}

/** The entries of two directories in sorted order, each marked as in both or in one only. */
async function mergeListings(pathA: Buffer, pathB: Buffer, relative: Buffer): Promise<Pending[]> {
  const [namesA, namesB] = await Promise.all([sortedNames(pathA), sortedNames(pathB)]);
  const merged: Pending[] = [];
  const entry = (name: Buffer) => (relative.length === 0 ? name : child(relative, name));
  let i = 0;
  let j = 0;
  while (i < namesA.length || j < namesB.length) {
    const order = i >= namesA.length ? 1 : j >= namesB.length ? -1 : compareNames(namesA[i]!, namesB[j]!);
    if (order < 0) merged.push({ relative: entry(namesA[i++]!), only: 'first' });
    else if (order > 0) merged.push({ relative: entry(namesB[j++]!), only: 'second' });
    else {
      merged.push({ relative: entry(namesA[i++]!), only: undefined });
      j++;
    }
  }
  return merged;
}

async function sortedNames(path: Buffer): Promise<Buffer[]> {
  return (await readdir(path, { encoding: 'buffer' })).sort(compareNames);
}

/** Why two regular files differ, or undefined when their contents are equal. */
async function compareFiles(pathA: Buffer, pathB: Buffer, sizeA: number, sizeB: number): Promise<string | undefined> {
  if (sizeA <= TEXT_LIMIT && sizeB <= TEXT_LIMIT) {
    const [contentsA, contentsB] = await Promise.all([readWhole(pathA), readWhole(pathB)]);
    if (contentsA.equals(contentsB)) return undefined;
    const line = firstDifferingLine(contentsA, contentsB);
    return line ?? `contents differ (${sizeA} / ${sizeB} bytes)`;
  }
  if (sizeA !== sizeB) return `contents differ (${sizeA} / ${sizeB} bytes)`;
  return (await sameContents(pathA, pathB)) ? undefined : 'contents differ';
}

async function readWhole(path: Buffer): Promise<Buffer> {
  const handle = await open(path, READ_NO_FOLLOW);
  try {
    return await handle.readFile();
  } finally {
    await handle.close();
  }
}

function looksLikeText(bytes: Buffer): boolean {
  return !bytes.includes(0) && Buffer.from(bytes.toString('utf8'), 'utf8').equals(bytes);
}

/** For two different text files: which line differs first, and how. */
function firstDifferingLine(contentsA: Buffer, contentsB: Buffer): string | undefined {
  if (!looksLikeText(contentsA) || !looksLikeText(contentsB)) return undefined;
  const linesA = lines(contentsA);
  const linesB = lines(contentsB);
  for (let n = 0; n < Math.max(linesA.length, linesB.length); n++) {
    const lineA = linesA[n];
    const lineB = linesB[n];
    if (lineA === lineB) continue;
    if (lineA === undefined) return `contents differ: the second build has more lines, from line ${n + 1} ('${excerpt(lineB!)}')`;
    if (lineB === undefined) return `contents differ: the first build has more lines, from line ${n + 1} ('${excerpt(lineA)}')`;
    return `contents differ at line ${n + 1} ('${excerpt(lineA)}' / '${excerpt(lineB)}')`;
  }
  return undefined;
}

/** The lines of a text; a final newline ends the last line rather than starting an empty one. */
function lines(text: Buffer): string[] {
  const split = text.toString('utf8').split('\n');
  if (split[split.length - 1] === '') split.pop();
  return split;
}

/** Compares two files of equal size chunk by chunk, stopping at the first difference. */
async function sameContents(pathA: Buffer, pathB: Buffer): Promise<boolean> {
  const handleA = await open(pathA, READ_NO_FOLLOW);
  try {
    const handleB = await open(pathB, READ_NO_FOLLOW);
    try {
      const bufferA = Buffer.alloc(COMPARE_CHUNK);
      const bufferB = Buffer.alloc(COMPARE_CHUNK);
      for (;;) {
        const [readA, readB] = await Promise.all([readFull(handleA, bufferA), readFull(handleB, bufferB)]);
        if (readA !== readB || !bufferA.subarray(0, readA).equals(bufferB.subarray(0, readB))) return false;
        if (readA < COMPARE_CHUNK) return true;
      }
    } finally {
      await handleB.close();
    }
  } finally {
    await handleA.close();
  }
}

type Handle = Awaited<ReturnType<typeof open>>;

/** Fills `buffer` unless the file ends first; returns the bytes read. */
async function readFull(handle: Handle, buffer: Buffer): Promise<number> {
  let filled = 0;
  while (filled < buffer.length) {
    const { bytesRead } = await handle.read(buffer, filled, buffer.length - filled);
    if (bytesRead === 0) break;
    filled += bytesRead;
  }
  return filled;
}
