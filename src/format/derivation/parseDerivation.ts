/**
 * Parses the ATerm text of a `.drv` file:
 * `Derive([outputs],[inputDrvs],[inputSrcs],"platform","builder",[args],[env])`.
 * The grammar is flat, so parsing is a loop with no recursion whatever the input.
 */
import type { Derivation, DerivationOutput } from './derivation.js';
import { AtermReader, SortedKeys } from './atermReader.js';
import { decodeBytes } from './byteString.js';
import { outputProblem } from './outputKind.js';

/**
 * `where` names the file in error messages. Bytes are decoded as described in
 * byteString.ts; a string is taken as already decoded. Throws DerivationFormatError
 * for anything that is not exactly what Nix writes (including unsorted or duplicate
 * keys, and escapes Nix would not produce), since it would not print back the same.
 */
export function parseDerivation(text: string | Uint8Array, where: string): Derivation {
  const r = new AtermReader(typeof text === 'string' ? text : decodeBytes(text), where);
  const drv: Derivation = {
    outputs: new Map(),
    inputDrvs: new Map(),
    inputSrcs: [],
    platform: '',
    builder: '',
    args: [],
    env: new Map(),
  };

  r.expect('Derive');
  r.expect('(');
  const outputNames = new SortedKeys(r, 'output');
  r.list(() => {
    const at = r.pos;
    r.expect('(');
    const name = r.plainString('output name');
    r.expect(',');
    const path = r.plainString(`path of output '${name}'`);
    r.expect(',');
    const hashAlgo = r.plainString(`hash algorithm of output '${name}'`);
    r.expect(',');
    const hash = r.plainString(`hash of output '${name}'`);
    r.expect(')');
    outputNames.check(name, at + 2);
    const output: DerivationOutput = { path, hashAlgo, hash };
    const problem = outputProblem(output);
    if (problem) r.fail(`output '${name}': ${problem}`, at);
    drv.outputs.set(name, output);
  });

  r.expect(',');
  const inputDrvPaths = new SortedKeys(r, 'input derivation');
  r.list(() => {
    r.expect('(');
    const at = r.pos;
    const path = readPath(r, 'input derivation path');
    inputDrvPaths.check(path, at);
    r.expect(',');
    const names: string[] = [];
    const sortedNames = new SortedKeys(r, `output name of input '${path}'`);
    r.list(() => {
      const nameAt = r.pos;
      const name = r.plainString(`output name of input '${path}'`);
      sortedNames.check(name, nameAt);
      names.push(name);
    });
    r.expect(')');
    drv.inputDrvs.set(path, names);
  });

  r.expect(',');
  const inputSrcs = new SortedKeys(r, 'input source');
  r.list(() => {
    const at = r.pos;
    const path = readPath(r, 'input source path');
    inputSrcs.check(path, at);
    drv.inputSrcs.push(path);
  });

  r.expect(',');
  drv.platform = r.plainString('platform');
  r.expect(',');
  drv.builder = r.escapedString('builder');
  r.expect(',');
  r.list(() => {
    drv.args.push(r.escapedString('argument'));
  });

  r.expect(',');
  const envKeys = new SortedKeys(r, 'environment variable');
  r.list(() => {
    r.expect('(');
    const at = r.pos;
    const key = r.escapedString('environment variable name');
    envKeys.check(key, at);
    r.expect(',');
    drv.env.set(key, r.escapedString(`value of environment variable '${key}'`));
    r.expect(')');
  });

  r.expect(')');
  r.expectEnd();
  return drv;
}

function readPath(r: AtermReader, what: string): string {
  const at = r.pos;
  const path = r.plainString(what);
  if (!path.startsWith('/')) r.fail(`${what} '${path}' does not start with '/'`, at);
  return path;
}
