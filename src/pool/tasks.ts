/** The messages between the main thread and the pool's workers (plain data only). */
import type { HashAlgo } from '../format/hash.js';

export interface HashPathTask {
  /** Physical path to read. */
  realPath: string;
  /** Hash parts (32 nix32 chars) of the candidate references; empty to skip scanning. */
  hashParts: string[];
  useCaseHack: boolean;
}

export interface HashPathResult {
  /** sha256 of the NAR, base16. */
  narHash: string;
  narSize: number;
  /** The candidate hash parts that occur in the NAR. */
  foundHashParts: string[];
}

export interface CopyPathTask {
  /** The file or tree to copy, outside the store. */
  source: string;
  /** Where to put the copy (must not exist), inside a private temporary directory. */
  target: string;
  useCaseHack: boolean;
  /** Also hash the NAR with this algorithm (fixed-output paths of another algorithm). */
  extraNarHashAlgo?: HashAlgo;
}

export interface CopyPathResult {
  narHash: string;
  narSize: number;
  /** base16, when extraNarHashAlgo was given. */
  extraNarHash?: string;
}

export interface RegisterOutputTask {
  realPath: string;
  /** Refuse entries not owned by this uid (outputs built without a sandbox). */
  requireOwner?: number;
  owner?: { uid: number; gid: number };
  hashParts: string[];
}

export interface DeleteTreeTask {
  /** A tree to delete without following any symlink in it (a finished build's directory). */
  path: string;
}

export interface DeleteTreesTask {
  paths: string[];
  trusted: boolean;
}

export interface PlaceFileTask {
  /** Written (made with its directory if missing) at `temporary`, then renamed to `path`. */
  temporary: string;
  path: string;
  content: Uint8Array;
  mode: number;
  /** Deleted once the file is in place, if it exists. */
  remove?: string;
}
