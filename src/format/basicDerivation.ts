/**
 * A derivation on the wire without its input derivations (protocols.md, "BasicDerivation"):
 * what BuildDerivation sends in the worker protocol and in the serve protocol. Its input
 * sources stand for the whole input closure.
 */
import type { Derivation } from './derivation/index.js';
import { WireFormatError } from './errors.js';
import type { WireReader, WireWriter } from './wire.js';

/** Bounds on what one derivation may hold, checked before anything is allocated. */
export interface BasicDerivationLimits {
  /** Called after each string read (a request's byte budget). */
  check?(): void;
}

const MAX_OUTPUTS = 1024;
const MAX_ITEMS = 1 << 20;
const MAX_PATH = 1024;
/** An environment value may be a whole script or a list of thousands of paths. */
const MAX_VALUE = 16 << 20;

export async function readBasicDerivation(reader: WireReader, limits: BasicDerivationLimits = {}): Promise<Derivation> {
  const check = limits.check ?? ((): void => {});
  const count = async (what: string, max: number): Promise<number> => {
    const n = await reader.readU64();
    if (n > max) throw new WireFormatError(`derivation: ${n} ${what} are more than ${max}`);
    return n;
  };
  const outputs = new Map<string, { path: string; hashAlgo: string; hash: string }>();
  for (let i = await count('outputs', MAX_OUTPUTS); i > 0; i--) {
    const name = await reader.readString(MAX_PATH);
    const path = await reader.readString(MAX_PATH);
    const hashAlgo = await reader.readString(64);
    const hash = await reader.readString(256);
    if (outputs.has(name)) throw new WireFormatError(`derivation: output '${name}' is given twice`);
    outputs.set(name, { path, hashAlgo, hash });
    check();
  }
  const inputSrcs: string[] = [];
  for (let i = await count('input paths', MAX_ITEMS); i > 0; i--) {
    inputSrcs.push(await reader.readString(MAX_PATH));
    check();
  }
  const platform = await reader.readString(256);
  const builder = await reader.readString(MAX_VALUE);
  check();
  const args: string[] = [];
  for (let i = await count('arguments', MAX_ITEMS); i > 0; i--) {
    args.push(await reader.readString(MAX_VALUE));
    check();
  }
  const env = new Map<string, string>();
  for (let i = await count('environment variables', MAX_ITEMS); i > 0; i--) {
    const key = await reader.readString(MAX_VALUE);
    env.set(key, await reader.readString(MAX_VALUE));
    check();
  }
  return { outputs, inputDrvs: new Map(), inputSrcs, platform, builder, args, env };
}

/** The wire form of `drv`'s basic part (its input derivations are not sent). */
export function writeBasicDerivation(w: WireWriter, drv: Derivation): WireWriter {
  w.u64(drv.outputs.size);
  for (const [name, o] of drv.outputs) w.string(name).string(o.path).string(o.hashAlgo).string(o.hash);
  w.strings([...drv.inputSrcs].sort()).string(drv.platform).string(drv.builder).strings(drv.args);
  const env = [...drv.env].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  w.u64(env.length);
  for (const [key, value] of env) w.string(key).string(value);
  return w;
}
