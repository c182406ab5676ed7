/**
 * Writing derivations into the store as nix-instantiate does: the ATerm becomes a text path
 * whose references are the derivation's inputs, registered with its `ca` and its
 * `DerivationOutputs` rows. Everything is checked before anything is written (output paths,
 * inputs present, names), so a refused derivation, or a refused batch, leaves no trace.
 */
import {
  checkDerivationOutputs,
  derivationStoreObject,
  drvNameFromPath,
  type Derivation,
  type DerivationStoreObject,
  type ModuloCache,
} from '../format/derivation/index.js';
import { FormatError } from '../format/errors.js';
import { encodeNar } from '../format/nar/index.js';
import { parseStorePath } from '../format/storePath.js';
import { WireReader } from '../format/wire.js';
import { commitPaths, type NewPath } from './commitPath.js';
import type { LocalStore } from './localStore.js';
import { restorePath } from './nar/restorePath.js';
import { makePathInfo } from './pathInfo.js';
import { isValidPath } from './queryPathInfo.js';
import { readDerivation } from './readDerivation.js';
import { TempDir } from './tempPath.js';

export class AddDerivationError extends Error {
  override name = 'AddDerivationError';
}

export interface AddDerivationOptions {
  /** The `.drv` path the derivation must have; a different computed path is an error. */
  expectedPath?: string;
  /**
   * The derivation's name (the `.drv` path's name without `.drv`). Default: the name in
   * expectedPath, else the `name` env var, which Nix always sets outside structured attrs.
   */
  name?: string;
}

export interface DerivationToAdd extends AddDerivationOptions {
  drv: Derivation;
  /** Where it came from (`file 'x.drv'`), put before error messages about it. */
  source?: string;
}

function derivationName(item: DerivationToAdd): string {
  if (item.name !== undefined) return item.name;
  if (item.expectedPath !== undefined) return drvNameFromPath(item.expectedPath);
  const fromEnv = item.drv.env.get('name');
  if (fromEnv === undefined || fromEnv === '') {
    throw new AddDerivationError(`derivation has no 'name' environment variable; give its name or its expected .drv path`);
  }
  return fromEnv;
}

interface Prepared {
  drv: Derivation;
  object: DerivationStoreObject;
  source: string | undefined;
}

/** Runs `check`, naming `source` in what it throws. */
function about<T>(source: string | undefined, check: () => T): T {
  try {
    return check();
  } catch (e) {
    if (source === undefined || !(e instanceof AddDerivationError || e instanceof FormatError)) throw e;
    throw new AddDerivationError(`${source}: ${e.message}`);
  }
}

function prepare(store: LocalStore, item: DerivationToAdd): Prepared {
  return about(item.source, () => {
    const object = derivationStoreObject(item.drv, derivationName(item), store.storeDir);
    if (item.expectedPath !== undefined && item.expectedPath !== object.path) {
      throw new AddDerivationError(`derivation's path is '${object.path}', not the expected '${item.expectedPath}'`);
    }
    return { drv: item.drv, object, source: item.source };
  });
}

/**
 * Puts `batch` in dependency order (inputs first) and checks each one: every input is valid
 * or earlier in the batch, every input output it uses exists, and its output paths are the
 * ones Nix computes.
 */
function checkBatch(store: LocalStore, batch: Map<string, Prepared>): Prepared[] {
  const ordered: Prepared[] = [];
  const placed = new Set<string>();
  const cache: ModuloCache = new Map();
  const readDrv = (drvPath: string): Derivation => batch.get(drvPath)?.drv ?? readDerivation(store, drvPath);
  const visit = (root: Prepared): void => {
    // Iterative: a batch may be a chain of thousands.
    const stack: { item: Prepared; inputs: string[]; next: number }[] = [];
    const onStack = new Set<string>();
    const enter = (item: Prepared): void => {
      onStack.add(item.object.path);
      stack.push({ item, inputs: [...item.drv.inputDrvs.keys()], next: 0 });
    };
    enter(root);
    while (stack.length > 0) {
      const frame = stack[stack.length - 1]!;
      const input = frame.inputs[frame.next++];
      if (input !== undefined) {
        const inBatch = batch.get(input);
        if (inBatch === undefined || placed.has(input)) continue;
        if (onStack.has(input)) throw new AddDerivationError(`derivation '${input}' depends on itself`);
        enter(inBatch);
        continue;
      }
      stack.pop();
      onStack.delete(frame.item.object.path);
      about(frame.item.source, () => checkOne(store, frame.item, placed, readDrv, cache));
      placed.add(frame.item.object.path);
      ordered.push(frame.item);
    }
  };
  for (const item of batch.values()) if (!placed.has(item.object.path)) visit(item);
  return ordered;
}

function checkOne(
  store: LocalStore,
  { drv, object }: Prepared,
  placed: ReadonlySet<string>,
  readDrv: (drvPath: string) => Derivation,
  cache: ModuloCache,
): void {
  for (const input of object.references) {
    parseStorePath(input, store.storeDir);
    if (!placed.has(input) && !isValidPath(store.db, input)) {
      throw new AddDerivationError(`derivation '${object.path}' has input '${input}', which is not valid in the store; add it first`);
    }
  }
  for (const [inputDrv, names] of drv.inputDrvs) {
    const outputs = readDrv(inputDrv).outputs;
    for (const name of names) {
      if (!outputs.has(name)) {
        throw new AddDerivationError(`derivation '${object.path}' uses output '${name}' of '${inputDrv}', which has no such output`);
      }
    }
  }
  for (const [id, output] of drv.outputs) {
    // Nix leaves such outputs empty only below a floating content-addressed input (an
    // experimental feature); here it is a derivation whose outputs were never filled in.
    if (output.path === '' && output.hashAlgo === '') {
      throw new AddDerivationError(`derivation '${object.path}' has no path for output '${id}'; fill in its outputs first`);
    }
  }
  checkDerivationOutputs(drv, object.path, readDrv, store.storeDir, cache);
}

async function writeTemp(store: LocalStore, object: DerivationStoreObject): Promise<NewPath> {
  const temp = await TempDir.create(store.layout, 'drv', store.onWait);
  try {
    // Through the NAR restorer, so the file gets the store's mode and time like any other path.
    const nar = encodeNar({ type: 'regular', executable: false, contents: object.contents });
    const { narHash, narSize } = await restorePath(temp.contentPath, new WireReader([nar], 'NAR'));
    const info = makePathInfo({ path: object.path, narHash, narSize, references: object.references, ca: object.ca });
    return { temp, info };
  } catch (e) {
    temp.remove();
    throw e;
  }
}

/**
 * Adds `items` (in any order; inputs among them are added first) and returns their `.drv`
 * paths in the order given. Those already valid are left as they are. All are checked before
 * any is written, so a refused one (AddDerivationError, or DerivationFormatError from Nix's
 * output checks) adds nothing; only a failure while committing (disk, database) can leave
 * earlier commit batches added, each a closed set.
 */
export async function addDerivations(store: LocalStore, items: readonly DerivationToAdd[]): Promise<string[]> {
  const batch = new Map<string, Prepared>();
  const paths = items.map((item) => {
    const prepared = prepare(store, item);
    batch.set(prepared.object.path, prepared);
    return prepared.object.path;
  });
  const ordered = checkBatch(store, batch).filter((p) => !isValidPath(store.db, p.object.path));
  const entries: NewPath[] = [];
  try {
    for (const { object } of ordered) entries.push(await writeTemp(store, object));
  } catch (e) {
    for (const { temp } of entries) temp.remove();
    throw e;
  }
  await commitPaths(store, entries);
  return paths;
}

/** Adds one derivation whose inputs are valid already; returns its `.drv` path. */
export async function addDerivation(store: LocalStore, drv: Derivation, options: AddDerivationOptions = {}): Promise<string> {
  const [path] = await addDerivations(store, [{ drv, ...options }]);
  return path!;
}
