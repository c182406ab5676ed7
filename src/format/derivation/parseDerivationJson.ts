/**
 * Reads the JSON form of `nix show-derivation` back into derivations. Field order and
 * key order do not matter here (nothing hashes the JSON); types and paths are checked.
 */
import { DerivationFormatError } from '../errors.js';
import { decodeBytes } from './byteString.js';
import type { Derivation, DerivationOutput } from './derivation.js';
import { outputProblem } from './outputKind.js';

type JsonObject = { [key: string]: unknown };

function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

class JsonChecker {
  constructor(private readonly where: string) {}

  fail(problem: string): never {
    throw new DerivationFormatError(`file '${this.where}' is not a valid derivation JSON: ${problem}`);
  }

  object(v: unknown, what: string): JsonObject {
    if (!isObject(v)) this.fail(`${what} must be an object`);
    return v;
  }

  string(v: unknown, what: string): string {
    if (typeof v !== 'string') this.fail(`${what} must be a string`);
    return v;
  }

  strings(v: unknown, what: string): string[] {
    if (!Array.isArray(v)) this.fail(`${what} must be an array of strings`);
    return v.map((item, i) => this.string(item, `${what}[${i}]`));
  }

  path(v: unknown, what: string): string {
    const path = this.string(v, what);
    if (!path.startsWith('/')) this.fail(`${what} '${path}' does not start with '/'`);
    return path;
  }
}

function parseOutput(c: JsonChecker, v: unknown, what: string): DerivationOutput {
  const o = c.object(v, what);
  const output: DerivationOutput = {
    path: o['path'] === undefined ? '' : c.string(o['path'], `${what}.path`),
    hashAlgo: o['hashAlgo'] === undefined ? '' : c.string(o['hashAlgo'], `${what}.hashAlgo`),
    hash: o['hash'] === undefined ? '' : c.string(o['hash'], `${what}.hash`),
  };
  if (o['impure'] === true) output.hash = 'impure';
  const problem = outputProblem(output);
  if (problem) c.fail(`${what}: ${problem}`);
  return output;
}

function parseOne(c: JsonChecker, v: unknown, drvPath: string): Derivation {
  const at = (field: string): string => `'${drvPath}'.${field}`;
  const o = c.object(v, `'${drvPath}'`);
  const drv: Derivation = {
    outputs: new Map(),
    inputDrvs: new Map(),
    inputSrcs: c.strings(o['inputSrcs'], at('inputSrcs')).map((p, i) => c.path(p, at(`inputSrcs[${i}]`))),
    platform: c.string(o['system'], at('system')),
    builder: c.string(o['builder'], at('builder')),
    args: c.strings(o['args'], at('args')),
    env: new Map(),
  };
  for (const [id, out] of Object.entries(c.object(o['outputs'], at('outputs')))) {
    drv.outputs.set(id, parseOutput(c, out, at(`outputs.${id}`)));
  }
  for (const [path, names] of Object.entries(c.object(o['inputDrvs'], at('inputDrvs')))) {
    drv.inputDrvs.set(c.path(path, at('inputDrvs key')), c.strings(names, at(`inputDrvs['${path}']`)));
  }
  for (const [key, value] of Object.entries(c.object(o['env'], at('env')))) {
    drv.env.set(key, c.string(value, at(`env.${key}`)));
  }
  return drv;
}

/** drv path -> derivation, from `nix show-derivation` output. `where` names the input in errors. */
export function parseDerivationJson(text: string | Uint8Array, where: string): Map<string, Derivation> {
  const c = new JsonChecker(where);
  let parsed: unknown;
  try {
    parsed = JSON.parse(typeof text === 'string' ? text : decodeBytes(text));
  } catch (e) {
    if (e instanceof SyntaxError) c.fail(e.message);
    throw e;
  }
  const result = new Map<string, Derivation>();
  for (const [drvPath, value] of Object.entries(c.object(parsed, 'the top level'))) {
    result.set(c.path(drvPath, 'drv path'), parseOne(c, value, drvPath));
  }
  return result;
}
