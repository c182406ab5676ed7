/** NAR, the Nix ARchive format (spec/nar.md): encoder, streaming parser, case hack. */
export { NAR_MAGIC, MAX_NAME_LENGTH, MAX_TARGET_LENGTH, MAX_TOKEN_LENGTH, CASE_HACK_SUFFIX } from './constants.js';
export { encodeNarString, encodeNarTokens, encodeNarLength, narPadding, NAR_FRAMES, ZERO_PADDING } from './encode.js';
export { invalidNameReason, compareNames, showName } from './names.js';
export {
  parseNar,
  type NarEvent,
  type NarDirectoryEvent,
  type NarEntryEvent,
  type NarRegularEvent,
  type NarSymlinkEvent,
  type NarDirectoryEndEvent,
  type ParseNarOptions,
} from './parse.js';
export { encodeNar, readNarTree, type NarNode, type NarRegularNode, type NarSymlinkNode, type NarDirectoryNode } from './tree.js';
export { CaseHackRenamer, unhackName, unhackDirectory, type HackedEntry } from './caseHack.js';
export { CaseHackCollisionError } from './errors.js';
