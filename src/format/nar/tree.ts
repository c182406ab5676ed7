/**
 * NARs as in-memory trees: for tests, small fixtures and tools. Nothing here streams, so
 * keep it to NARs that fit in memory; the encoder and reader are still iterative, so a
 * deep tree does not exhaust the call stack.
 */
import { NarFormatError } from '../errors.js';
import type { ByteChunks, WireReader } from '../wire.js';
import { encodeNarLength, encodeNarString, NAR_FRAMES, narPadding, ZERO_PADDING } from './encode.js';
import { compareNames, invalidNameReason, showName } from './names.js';
import { parseNar, type ParseNarOptions } from './parse.js';

export interface NarRegularNode {
  type: 'regular';
  executable: boolean;
  contents: Buffer;
}

export interface NarSymlinkNode {
  type: 'symlink';
  target: Buffer;
}

export interface NarDirectoryNode {
  type: 'directory';
  /** In any order for encodeNar; in NAR (byte) order from readNarTree. */
  entries: { name: Buffer; node: NarNode }[];
}

export type NarNode = NarRegularNode | NarSymlinkNode | NarDirectoryNode;

type EncodeStep = { node: NarNode } | { entry: Buffer } | 'close';

/** The exact NAR of a tree: entries sorted byte-wise; bad or duplicate names are refused. */
export function encodeNar(root: NarNode): Buffer {
  const out: Buffer[] = [NAR_FRAMES.magic];
  const pending: EncodeStep[] = [{ node: root }];
  while (pending.length > 0) {
    const step = pending.pop()!;
    if (step === 'close') {
      out.push(NAR_FRAMES.close);
      continue;
    }
    if ('entry' in step) {
      out.push(NAR_FRAMES.entry, encodeNarString(step.entry), NAR_FRAMES.node);
      continue;
    }
    const node = step.node;
    if (node.type === 'regular') {
      out.push(node.executable ? NAR_FRAMES.executable : NAR_FRAMES.regular, encodeNarLength(node.contents.length));
      out.push(node.contents, ZERO_PADDING.subarray(0, narPadding(node.contents.length)), NAR_FRAMES.close);
    } else if (node.type === 'symlink') {
      out.push(NAR_FRAMES.symlink, encodeNarString(node.target), NAR_FRAMES.close);
    } else {
      out.push(NAR_FRAMES.directory);
      const sorted = [...node.entries].sort((a, b) => compareNames(a.name, b.name));
      pending.push('close');
      for (let i = sorted.length - 1; i >= 0; i--) {
        const { name, node: child } = sorted[i]!;
        const reason = invalidNameReason(name);
        if (reason) throw new NarFormatError(`cannot encode entry name ${showName(name)}: it ${reason}`);
        if (i > 0 && sorted[i - 1]!.name.equals(name)) throw new NarFormatError(`cannot encode duplicate entry name ${showName(name)}`);
        pending.push('close', { node: child }, { entry: name });
      }
    }
  }
  return Buffer.concat(out);
}

/** Parses a whole NAR into memory (file contents included). */
export async function readNarTree(source: WireReader | ByteChunks, opts?: ParseNarOptions): Promise<NarNode> {
  const directories: NarDirectoryNode[] = [];
  let pendingName: Buffer | undefined;
  let root: NarNode | undefined;
  const place = (node: NarNode): void => {
    const parent = directories[directories.length - 1];
    if (parent && pendingName) parent.entries.push({ name: pendingName, node });
    else root = node;
    pendingName = undefined;
  };
  for await (const event of parseNar(source, opts)) {
    if (event.type === 'entry') {
      pendingName = event.name;
    } else if (event.type === 'directory') {
      const node: NarDirectoryNode = { type: 'directory', entries: [] };
      place(node);
      directories.push(node);
    } else if (event.type === 'directoryEnd') {
      directories.pop();
    } else if (event.type === 'symlink') {
      place({ type: 'symlink', target: event.target });
    } else {
      const chunks: Buffer[] = [];
      for await (const chunk of event.contents) chunks.push(Buffer.from(chunk));
      place({ type: 'regular', executable: event.executable, contents: Buffer.concat(chunks) });
    }
  }
  return root!;
}
