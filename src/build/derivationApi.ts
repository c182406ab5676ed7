/**
 * Derivations written in TypeScript, made the way Nix's `derivation` builtin makes them, so
 * that the same attributes give the same `.drv` path, bytes and output paths as
 * nix-instantiate. What Nix learns from string context (which store paths a string mentions)
 * is said here explicitly, in `inputs`.
 */
import {
  derivationStorePath,
  fillDerivationOutputs,
  hashDerivationModulo,
  type Derivation,
  type DerivationOutput,
  type ModuloCache,
} from '../format/derivation/index.js';
import type { Hash } from '../format/hash.js';
import { FormatError } from '../format/errors.js';
import { checkStorePathName, DEFAULT_STORE_DIR, isDerivationPath, outputPathName, toStorePath } from '../format/storePath.js';
import { DerivationSpecError, fixedOutput, type FixedOutputSpec } from './derivationApiFixed.js';

export { DerivationSpecError } from './derivationApiFixed.js';
export { derivationClosure, writeDerivations } from './derivationApiWrite.js';

export interface DerivationSpec extends FixedOutputSpec {
  name: string;
  /** Default `x86_64-linux`. */
  system?: string;
  builder: string;
  args?: string[];
  /** Further attributes; each becomes an environment variable of the builder. */
  env?: Record<string, string>;
  /** Output names, the default output first (default `['out']`). */
  outputs?: string[];
  /**
   * What Nix finds in string context: a handle (its default output), one output of a handle
   * (`outputOf`), or a store path (or a path inside one), which becomes an input source.
   */
  inputs?: DerivationInput[];
}

export interface DerivationHandle {
  name: string;
  drv: Derivation;
  drvPath: string;
  /** Output name -> store path, in the order of `spec.outputs`. */
  outputs: Record<string, string>;
  /** The path of the default (first) output: Nix's `outPath`, usually output `out`. */
  out: string;
  /** The handles this derivation takes outputs of. */
  inputHandles: DerivationHandle[];
}

export interface OutputRef {
  handle: DerivationHandle;
  output: string;
  path: string;
}

export type DerivationInput = DerivationHandle | OutputRef | string;

/** One named output of a derivation, to give as an input (`drv.dev` in Nix). */
export function outputOf(handle: DerivationHandle, output: string): OutputRef {
  const path = handle.outputs[output];
  if (path === undefined) throw new DerivationSpecError(`derivation '${handle.drvPath}' has no output '${output}'`);
  return { handle, output, path };
}

/** Attributes the API sets itself, so `env` may not (Nix has one attribute set, not two). */
const OWN_ATTRIBUTES = ['name', 'builder', 'system', 'args', 'outputs', 'outputHash', 'outputHashAlgo', 'outputHashMode'];

/** Unmasked modulo hashes of the handles made here, so a new derivation never re-walks its inputs. */
const moduloHashes = new WeakMap<DerivationHandle, Hash>();

function checkOutputNames(name: string, outputs: readonly string[]): void {
  if (outputs.length === 0) throw new DerivationSpecError(`derivation '${name}': derivation cannot have an empty set of outputs`);
  const seen = new Set<string>();
  for (const id of outputs) {
    if (id === 'drv') throw new DerivationSpecError(`derivation '${name}': invalid derivation output name 'drv'`);
    if (seen.has(id)) throw new DerivationSpecError(`derivation '${name}': duplicate derivation output '${id}'`);
    seen.add(id);
    checkStorePathName(outputPathName(name, id));
  }
}

function checkName(name: string): void {
  checkStorePathName(name);
  if (isDerivationPath(name)) throw new DerivationSpecError(`derivation names are not allowed to end in '.drv' ('${name}')`);
  checkStorePathName(`${name}.drv`);
}

function isHandle(input: DerivationInput): input is DerivationHandle {
  return typeof input === 'object' && 'drvPath' in input;
}

function addInputs(drv: Derivation, inputs: readonly DerivationInput[], storeDir: string): DerivationHandle[] {
  const handles: DerivationHandle[] = [];
  const sources = new Set<string>();
  for (const input of inputs) {
    if (typeof input === 'string') {
      sources.add(toStorePath(input, storeDir));
      continue;
    }
    const ref = isHandle(input) ? outputOf(input, Object.keys(input.outputs)[0]!) : input;
    if (!ref.handle.drvPath.startsWith(storeDir + '/')) {
      throw new DerivationSpecError(`input '${ref.handle.drvPath}' is not in the store directory '${storeDir}'`);
    }
    const names = drv.inputDrvs.get(ref.handle.drvPath) ?? [];
    if (!names.includes(ref.output)) names.push(ref.output);
    drv.inputDrvs.set(ref.handle.drvPath, names);
    if (!handles.includes(ref.handle)) handles.push(ref.handle);
  }
  drv.inputSrcs = [...sources];
  return handles;
}

/**
 * Reads input derivations by path from the handles' graph: only needed for handles not made
 * by `derivation` here (whose modulo hash is not known).
 */
function handleReader(inputs: readonly DerivationHandle[]): (drvPath: string) => Derivation {
  let index: Map<string, Derivation> | undefined;
  return (drvPath) => {
    if (index === undefined) {
      index = new Map();
      const pending = [...inputs];
      for (let h = pending.pop(); h !== undefined; h = pending.pop()) {
        if (index.has(h.drvPath)) continue;
        index.set(h.drvPath, h.drv);
        pending.push(...h.inputHandles);
      }
    }
    const drv = index.get(drvPath);
    if (drv === undefined) throw new DerivationSpecError(`input derivation '${drvPath}' is not among the input handles`);
    return drv;
  };
}

/** A derivation as `derivation { … }` in Nix makes it, with its `.drv` path and output paths. */
export function derivation(spec: DerivationSpec, storeDir = DEFAULT_STORE_DIR): DerivationHandle {
  try {
    return makeDerivation(spec, storeDir);
  } catch (e) {
    if (!(e instanceof FormatError)) throw e;
    throw new DerivationSpecError(`derivation '${spec.name}': ${e.message}`);
  }
}

function makeDerivation(spec: DerivationSpec, storeDir: string): DerivationHandle {
  checkName(spec.name);
  const outputNames = spec.outputs ?? ['out'];
  checkOutputNames(spec.name, outputNames);
  const env = new Map<string, string>();
  for (const [key, value] of Object.entries(spec.env ?? {})) {
    if (OWN_ATTRIBUTES.includes(key) || outputNames.includes(key)) {
      throw new DerivationSpecError(`derivation '${spec.name}': env.${key} is set from the spec itself; give it there`);
    }
    env.set(key, value);
  }
  const system = spec.system ?? 'x86_64-linux';
  env.set('name', spec.name);
  env.set('builder', spec.builder);
  env.set('system', system);
  // As in Nix, `outputs` is in the environment only when it was given.
  if (spec.outputs !== undefined) env.set('outputs', spec.outputs.join(' '));
  const fixed = fixedOutput(spec, outputNames, env);
  const outputs = new Map<string, DerivationOutput>(outputNames.map((id) => [id, { path: '', hashAlgo: '', hash: '' }]));
  if (fixed !== undefined) outputs.set('out', fixed);
  const blank: Derivation = { outputs, inputDrvs: new Map(), inputSrcs: [], platform: system, builder: spec.builder, args: [...(spec.args ?? [])], env };
  const inputHandles = addInputs(blank, spec.inputs ?? [], storeDir);

  const cache: ModuloCache = new Map();
  for (const h of inputHandles) {
    const known = moduloHashes.get(h);
    if (known !== undefined) cache.set(h.drvPath, known);
  }
  const readDrv = handleReader(inputHandles);
  const drv = fillDerivationOutputs(blank, spec.name, readDrv, storeDir, cache);
  const drvPath = derivationStorePath(drv, spec.name, storeDir);
  const handle: DerivationHandle = {
    name: spec.name,
    drv,
    drvPath,
    outputs: Object.fromEntries(outputNames.map((id) => [id, drv.outputs.get(id)!.path])),
    out: drv.outputs.get(outputNames[0]!)!.path,
    inputHandles,
  };
  moduloHashes.set(handle, hashDerivationModulo(drv, false, readDrv, cache));
  return handle;
}
