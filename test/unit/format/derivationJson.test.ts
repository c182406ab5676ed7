import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parseDerivation, parseDerivationJson, printDerivation, printDerivationJson, type Derivation } from '../../../src/format/derivation/index.js';
import { DerivationFormatError } from '../../../src/format/errors.js';
import { fixture } from '../../support/fixtures.js';

/** name -> [drv path, .drv bytes] for the vectors and the extra JSON cases. */
function cases(): Map<string, [string, Buffer]> {
  const out = new Map<string, [string, Buffer]>();
  for (const [folder, list] of [
    ['drv', 'drv/paths.txt'],
    ['drv-json', 'drv-json/paths.txt'],
  ] as const) {
    for (const line of readFileSync(fixture(list), 'utf8').trim().split('\n')) {
      const [name, path] = line.split(' ') as [string, string];
      out.set(name, [path, readFileSync(fixture(`${folder}/${name}.drv`))]);
    }
  }
  return out;
}

describe('derivation JSON as `nix show-derivation` prints it (Nix 2.8)', () => {
  const all = cases();

  it('covers the 8 vectors and the 2 extra cases', () => assert.equal(all.size, 10));

  for (const [name, [drvPath, bytes]] of all) {
    it(`prints exactly what nix printed for ${name}`, () => {
      const drv = parseDerivation(bytes, drvPath);
      const json = printDerivationJson(new Map([[drvPath, drv]]));
      const expected = readFileSync(fixture(`drv-json/${name}.json`));
      assert.equal(json.toString('latin1'), expected.toString('latin1'));
    });

    it(`reads nix's JSON for ${name} back to the same derivation`, () => {
      const parsed = parseDerivationJson(readFileSync(fixture(`drv-json/${name}.json`)), `${name}.json`);
      assert.deepEqual([...parsed.keys()], [drvPath]);
      assert.ok(printDerivation(parsed.get(drvPath)!).equals(bytes));
    });
  }

  it('prints several derivations keyed and sorted by drv path, like `show-derivation -r`', () => {
    const drvs = new Map<string, Derivation>();
    for (const name of ['multi', 'dependent', 'simple']) {
      const [drvPath, bytes] = all.get(name)!;
      drvs.set(drvPath, parseDerivation(bytes, drvPath));
    }
    const expected = readFileSync(fixture('drv-json/dependent-recursive.json'), 'utf8');
    assert.equal(printDerivationJson(drvs).toString('utf8'), expected);
  });

  it('writes the `impure` flag and leaves out what a floating output lacks', () => {
    const [drvPath, bytes] = all.get('simple')!;
    const drv = parseDerivation(bytes, drvPath);
    drv.outputs.set('out', { path: '', hashAlgo: 'r:sha256', hash: 'impure' });
    drv.outputs.set('dev', { path: '', hashAlgo: 'sha256', hash: '' });
    const json = printDerivationJson(new Map([[drvPath, drv]])).toString('utf8');
    assert.ok(json.includes('"dev": {\n        "hashAlgo": "sha256"\n      },\n      "out": {\n        "hashAlgo": "r:sha256",\n        "impure": true\n      }'));
    const back = parseDerivationJson(json, 'impure.json').get(drvPath)!;
    assert.deepEqual(back.outputs.get('out'), { path: '', hashAlgo: 'r:sha256', hash: 'impure' });
  });

  it('rejects JSON that is not a derivation, naming the field', () => {
    const fail = (text: string, pattern: RegExp): void =>
      assert.throws(
        () => parseDerivationJson(text, 'x.json'),
        (e: unknown) => e instanceof DerivationFormatError && pattern.test(e.message) && e.message.startsWith("file 'x.json' is not a valid derivation JSON: "),
      );
    const [drvPath] = all.get('simple')!;
    const good = JSON.parse(readFileSync(fixture('drv-json/simple.json'), 'utf8'))[drvPath];
    fail('{"a":', /JSON/);
    fail('[]', /the top level must be an object/);
    fail(JSON.stringify({ 'nix/store/x.drv': good }), /drv path 'nix\/store\/x.drv' does not start with '\/'/);
    fail(JSON.stringify({ [drvPath]: { ...good, env: [] } }), /\.env must be an object/);
    fail(JSON.stringify({ [drvPath]: { ...good, args: 'x' } }), /\.args must be an array of strings/);
    fail(JSON.stringify({ [drvPath]: { ...good, system: undefined } }), /\.system must be a string/);
    fail(JSON.stringify({ [drvPath]: { ...good, outputs: { out: { path: '/p', hash: 'ab' } } } }), /outputs\.out: output hash 'ab' is given without a hash algorithm/);
  });
});
