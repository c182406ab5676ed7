/** What the streaming NAR parser yields, one event per grammar element (spec/nar.md section 2). */

/** A directory node starts; its entries follow, then a `directoryEnd`. */
export interface NarDirectoryEvent {
  type: 'directory';
  offset: number;
}

/** An entry of the innermost open directory; the next event is its node. */
export interface NarEntryEvent {
  type: 'entry';
  name: Buffer;
  offset: number;
}

/**
 * A regular file. Read `contents` fully (or not at all: the parser skips what is left)
 * before asking for the next event. Its chunks are views into the input: copy them if kept.
 */
export interface NarRegularEvent {
  type: 'regular';
  executable: boolean;
  size: number;
  /** Where the contents' payload starts in the NAR (the `.ls` listing's `narOffset`). */
  contentsOffset: number;
  contents: AsyncIterable<Buffer>;
}

export interface NarSymlinkEvent {
  type: 'symlink';
  target: Buffer;
  offset: number;
}

/** The innermost open directory ends. */
export interface NarDirectoryEndEvent {
  type: 'directoryEnd';
  offset: number;
}

export type NarEvent = NarDirectoryEvent | NarEntryEvent | NarRegularEvent | NarSymlinkEvent | NarDirectoryEndEvent;

export interface ParseNarOptions {
  /** Most directories that may be open at once, the root included (default: no limit). */
  maxDepth?: number;
}

