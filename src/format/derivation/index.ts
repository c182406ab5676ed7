/** Derivations: the `.drv` ATerm format, its JSON form, hashDerivationModulo and output paths. */
export { cloneDerivation, drvNameFromPath, type Derivation, type DerivationOutput } from './derivation.js';
export { compareByteOrder, decodeBytes, encodeString } from './byteString.js';
export {
  derivationKind,
  fixedOutputHash,
  isFixedOutput,
  outputKind,
  outputProblem,
  parseOutputHashAlgo,
  type OutputKind,
} from './outputKind.js';
export { parseDerivation } from './parseDerivation.js';
export { printDerivation, type PrintOptions } from './printDerivation.js';
export {
  derivationModuloText,
  hashDerivationModulo,
  hashDerivationModuloAsync,
  type AsyncDrvReader,
  type DrvReader,
  type ModuloCache,
} from './hashModulo.js';
export { derivationOutputPaths, needsModuloHash, outputPathsFromModulo } from './outputPaths.js';
export { checkDerivationOutputs, checkOutputPaths } from './checkOutputs.js';
export { derivationReferences, derivationStoreObject, derivationStorePath, type DerivationStoreObject } from './drvPath.js';
export { blankOutputs, fillDerivationOutputs, fillDerivationOutputsAsync, withOutputPaths } from './fillOutputs.js';
export { parseDerivationJson } from './parseDerivationJson.js';
export { printDerivationJson } from './printDerivationJson.js';
