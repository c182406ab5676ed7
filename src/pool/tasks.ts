/** The messages between the main thread and the pool's workers (plain data only). */

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
