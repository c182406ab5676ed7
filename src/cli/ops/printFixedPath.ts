/** `--print-fixed-path [--recursive] ALGO HASH NAME`: a fixed-output path, without adding anything. */
import { Hash, parseHashAlgo } from '../../format/hash.js';
import { makeFixedOutputPath } from '../../format/storePath.js';
import { type ParsedArgs, UsageError } from '../args.js';
import { printLines } from '../output.js';

export function opPrintFixedPath(parsed: ParsedArgs): void {
  if (parsed.args.length !== 3) throw new UsageError("'--print-fixed-path' requires three arguments");
  const [algoName, hashText, name] = parsed.args as [string, string, string];
  const algo = parseHashAlgo(algoName);
  const path = makeFixedOutputPath(parsed.recursive ? 'recursive' : 'flat', Hash.parse(hashText, algo), name);
  printLines([path]);
}
