/**
 * The JSON that `nix show-derivation` (Nix 2.8) prints: an object keyed by drv path, each
 * value `{outputs, inputSrcs, inputDrvs, system, builder, args, env}`, indented by two
 * spaces, with a final newline. Written by hand rather than with JSON.stringify because
 * Nix's writer escapes differently (`\u0008`, not `\b`) and passes non-UTF-8 bytes through,
 * and because plain objects would reorder integer-like env keys.
 */
import { compareByteOrder, encodeString } from './byteString.js';
import type { Derivation, DerivationOutput } from './derivation.js';
import { outputKind } from './outputKind.js';

function jsonString(s: string): string {
  return (
    '"' +
    s.replace(/["\\\u0000-\u001f]/g, (c) => {
      if (c === '"' || c === '\\') return '\\' + c;
      if (c === '\n') return '\\n';
      if (c === '\r') return '\\r';
      if (c === '\t') return '\\t';
      return '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0');
    }) +
    '"'
  );
}

/** An object from pre-rendered member values; `{}` when empty, as Nix prints it. */
function jsonObject(members: [string, string][], indent: string): string {
  if (members.length === 0) return '{}';
  const inner = indent + '  ';
  return `{\n${members.map(([k, v]) => `${inner}${jsonString(k)}: ${v}`).join(',\n')}\n${indent}}`;
}

function jsonArray(items: string[], indent: string): string {
  if (items.length === 0) return '[]';
  const inner = indent + '  ';
  return `[\n${items.map((v) => inner + v).join(',\n')}\n${indent}]`;
}

function sortedKeys<V>(map: ReadonlyMap<string, V>): string[] {
  return [...map.keys()].sort(compareByteOrder);
}

function outputJson(o: DerivationOutput, indent: string): string {
  const members: [string, string][] = [];
  if (o.path !== '') members.push(['path', jsonString(o.path)]);
  if (o.hashAlgo !== '') members.push(['hashAlgo', jsonString(o.hashAlgo)]);
  const kind = outputKind(o);
  if (kind === 'fixed') members.push(['hash', jsonString(o.hash)]);
  if (kind === 'impure') members.push(['impure', 'true']);
  return jsonObject(members, indent);
}

function derivationJson(drv: Derivation, indent: string): string {
  const i1 = indent + '  ';
  const i2 = i1 + '  ';
  const strings = (items: Iterable<string>, at: string): string => jsonArray([...items].map(jsonString), at);
  return jsonObject(
    [
      ['outputs', jsonObject(sortedKeys(drv.outputs).map((id) => [id, outputJson(drv.outputs.get(id)!, i2)]), i1)],
      ['inputSrcs', strings([...new Set(drv.inputSrcs)].sort(compareByteOrder), i1)],
      [
        'inputDrvs',
        jsonObject(
          sortedKeys(drv.inputDrvs).map((p) => [p, strings([...new Set(drv.inputDrvs.get(p))].sort(compareByteOrder), i2)]),
          i1,
        ),
      ],
      ['system', jsonString(drv.platform)],
      ['builder', jsonString(drv.builder)],
      ['args', strings(drv.args, i1)],
      ['env', jsonObject(sortedKeys(drv.env).map((k) => [k, jsonString(drv.env.get(k)!)]), i1)],
    ],
    indent,
  );
}

/** `nix show-derivation` output for these derivations (drv path -> derivation), as bytes. */
export function printDerivationJson(drvs: ReadonlyMap<string, Derivation>): Buffer {
  const members = sortedKeys(drvs).map((path): [string, string] => [path, derivationJson(drvs.get(path)!, '  ')]);
  return encodeString(jsonObject(members, '') + '\n');
}
