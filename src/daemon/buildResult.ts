/**
 * BuildResult on the wire (protocols.md §0): a status, an error message, times built, and the
 * outputs made as realisations keyed by DrvOutput (`sha256:<static output hash>!<name>`).
 */
import type { FailureKind } from '../build/errors.js';
import { BuildCancelledError, BuildError } from '../build/errors.js';
import type { Derivation } from '../format/derivation/index.js';
import { staticOutputHashes, type DrvReader, type ModuloCache } from '../format/derivation/hashModulo.js';
import { WireWriter } from '../format/wire.js';

export const BUILD_STATUS = {
  built: 0,
  alreadyValid: 2,
  permanentFailure: 3,
  outputRejected: 5,
  miscFailure: 9,
  timedOut: 8,
  dependencyFailed: 10,
  logLimitExceeded: 11,
  notDeterministic: 12,
} as const;

const STATUS_OF_KIND: Record<FailureKind, number> = {
  build: BUILD_STATUS.permanentFailure,
  timeout: BUILD_STATUS.timedOut,
  hashMismatch: BUILD_STATUS.outputRejected,
  checkMismatch: BUILD_STATUS.notDeterministic,
  logLimit: BUILD_STATUS.logLimitExceeded,
  dependency: BUILD_STATUS.dependencyFailed,
  other: BUILD_STATUS.miscFailure,
};

/** The status nix gives a goal that failed this way. */
export function failureStatus(failure: Error): number {
  if (failure instanceof BuildCancelledError) return BUILD_STATUS.dependencyFailed;
  return failure instanceof BuildError ? STATUS_OF_KIND[failure.kind] : BUILD_STATUS.miscFailure;
}

export interface BuildResultFields {
  status: number;
  errorMsg: string;
  timesBuilt: number;
  startTime?: number;
  stopTime?: number;
  /** Output name -> path, of the outputs this build made. */
  built: readonly { name: string; path: string }[];
}

/**
 * Writes a BuildResult (1.29+: times and `isNonDeterministic`; 1.28+: the realisations of the
 * outputs built, in DrvOutput order).
 */
export function writeBuildResult(w: WireWriter, result: BuildResultFields, drv: Derivation | undefined, readDrv: DrvReader, storeDir: string, cache: ModuloCache = new Map()): void {
  w.u64(result.status).string(result.errorMsg);
  w.u64(result.timesBuilt).u64(result.status === BUILD_STATUS.notDeterministic ? 1 : 0);
  w.u64(result.startTime ?? 0).u64(result.stopTime ?? 0);
  const hashes = result.built.length > 0 && drv ? staticOutputHashes(drv, readDrv, cache) : undefined;
  const realisations = result.built
    .map(({ name, path }) => {
      const id = `sha256:${hashes!.get(name)!.toBase16()}!${name}`;
      const json = `{"dependentRealisations":{},"id":"${id}","outPath":"${path.slice(storeDir.length + 1)}","signatures":[]}`;
      return [id, json] as const;
    })
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  w.u64(realisations.length);
  for (const [id, json] of realisations) w.string(id).string(json);
}

/**
 * BuildDerivation's answer (the worker protocol's and the serve protocol's): `build` timed,
 * its outcome as a BuildResult with the outputs it made. The derivation has no input
 * derivations, so its static output hashes need none.
 */
export async function givenDerivationResult(drvPath: string, drv: Derivation, storeDir: string, build: () => Promise<{ built: boolean; failure?: Error }>): Promise<Buffer> {
  const startTime = Math.floor(Date.now() / 1000);
  const result = await build();
  const stopTime = Math.floor(Date.now() / 1000);
  const built = result.built ? [...drv.outputs].map(([name, o]) => ({ name, path: o.path })) : [];
  const status = result.failure ? failureStatus(result.failure) : result.built ? BUILD_STATUS.built : BUILD_STATUS.alreadyValid;
  const noInputDrvs = (path: string): never => {
    throw new Error(`derivation '${drvPath}' names an input derivation '${path}'`);
  };
  const w = new WireWriter();
  writeBuildResult(w, { status, errorMsg: result.failure?.message ?? '', timesBuilt: result.built ? 1 : 0, startTime, stopTime, built }, drv, noInputDrvs, storeDir);
  return w.toBuffer();
}
