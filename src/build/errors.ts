/**
 * Why a goal failed. The kind decides nix-store's exit status (Nix's Worker::exitStatus):
 * 100 for a failed build, with bit 1 for a timeout, bit 2 for a fixed-output hash mismatch,
 * and 104 (bit 8) for a `--check` that found a difference; 1 for anything else (a build
 * killed for its log size among them, as in nix 2.8).
 */
export type FailureKind = 'build' | 'timeout' | 'hashMismatch' | 'checkMismatch' | 'logLimit' | 'dependency' | 'other';

export class BuildError extends Error {
  override name = 'BuildError';
  constructor(
    message: string,
    readonly kind: FailureKind,
  ) {
    super(message);
  }
}

/** A goal that was not run because another one failed first (without --keep-going). */
export class BuildCancelledError extends Error {
  override name = 'BuildCancelledError';
}

export function exitStatusOf(kinds: Iterable<FailureKind>): number {
  let mask = 0;
  let any = false;
  for (const kind of kinds) {
    any = true;
    if (kind === 'build' || kind === 'timeout' || kind === 'hashMismatch') mask |= 0x04;
    if (kind === 'timeout') mask |= 0x01;
    if (kind === 'hashMismatch') mask |= 0x02;
    if (kind === 'checkMismatch') mask |= 0x08;
  }
  if (!any) return 0;
  return mask ? mask | 0x60 : 1;
}
