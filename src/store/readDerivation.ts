/** Reading a `.drv` file of the store (it must be valid: its content is then complete). */
import { readFileSync } from 'node:fs';
import { parseDerivation, type Derivation } from '../format/derivation/index.js';
import type { LocalStore } from './localStore.js';
import { requirePathInfo } from './queryPathInfo.js';

export function readDerivation(store: LocalStore, drvPath: string): Derivation {
  requirePathInfo(store.db, drvPath);
  return parseDerivation(readFileSync(store.layout.toReal(drvPath)), drvPath);
}
