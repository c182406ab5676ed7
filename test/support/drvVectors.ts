/** The derivation vectors (test/fixtures/drv): their store paths and a reader by path, as a store would read them. */
import { readFileSync } from 'node:fs';
import { parseDerivation, type Derivation } from '../../src/format/derivation/index.js';
import { fixture } from './fixtures.js';

/** Vector name -> drv store path, from paths.txt. */
export const drvPaths = new Map(
  readFileSync(fixture('drv/paths.txt'), 'utf8')
    .trim()
    .split('\n')
    .map((line) => line.split(' ') as [string, string]),
);

/** Drv store path -> vector name. */
export const drvNameOf = new Map([...drvPaths].map(([name, path]) => [path, name]));

export function drvBytes(name: string): Buffer {
  return readFileSync(fixture(`drv/${name}.drv`));
}

/** Loads a vector by its store path. */
export function readVectorDrv(drvPath: string): Derivation {
  const name = drvNameOf.get(drvPath);
  if (name === undefined) throw new Error(`no vector for ${drvPath}`);
  return parseDerivation(drvBytes(name), drvPath);
}
