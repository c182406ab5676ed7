/** `--add`, `--add-fixed [--recursive] ALGO` and `--print-fixed-path`. */
import { Hash, parseHashAlgo } from '../../format/hash.js';
import { makeFixedOutputPath } from '../../format/storePath.js';
import { addPathToStore } from '../../store/addToStore.js';
import type { LocalStore } from '../../store/localStore.js';
import { type ParsedArgs, UsageError } from '../args.js';
import { printLines } from '../output.js';

export async function opAdd(store: LocalStore, parsed: ParsedArgs): Promise<void> {
  let args = parsed.args;
  let method: 'flat' | 'recursive' = 'recursive';
  let algo = parseHashAlgo('sha256');
  if (parsed.operation === 'add-fixed') {
    if (args.length < 1) throw new UsageError('first argument must be hash algorithm');
    algo = parseHashAlgo(args[0]!);
    args = args.slice(1);
    method = parsed.recursive ? 'recursive' : 'flat';
  }
  for (const source of args) {
    // One at a time, printing as we go, like nix-store: an error stops at that argument.
    printLines([await addPathToStore(store, source, { method, algo })]);
  }
}

export function opPrintFixedPath(parsed: ParsedArgs): void {
  if (parsed.args.length !== 3) throw new UsageError("'--print-fixed-path' requires three arguments");
  const [algoName, hashText, name] = parsed.args as [string, string, string];
  const algo = parseHashAlgo(algoName);
  const path = makeFixedOutputPath(parsed.recursive ? 'recursive' : 'flat', Hash.parse(hashText, algo), name);
  printLines([path]);
}
