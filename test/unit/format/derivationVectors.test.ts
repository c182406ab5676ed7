import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import {
  checkDerivationOutputs,
  derivationModuloText,
  derivationOutputPaths,
  derivationStoreObject,
  derivationStorePath,
  drvNameFromPath,
  hashDerivationModulo,
  hashDerivationModuloAsync,
  isFixedOutput,
  parseDerivation,
  printDerivation,
  type Derivation,
} from '../../../src/format/derivation/index.js';
import { fixture } from '../../support/fixtures.js';
import { drvBytes, drvPaths, readVectorDrv } from '../../support/drvVectors.js';

const paths = drvPaths;
const bytesOf = drvBytes;
const readDrv = readVectorDrv;

interface Expected {
  masked?: string;
  unmasked?: string;
  fixedModulo?: string;
  outputs: Map<string, string>;
}

/** What check.txt says real Nix computed, per drv path. */
function checks(): Map<string, Expected> {
  const out = new Map<string, Expected>();
  let current: Expected | undefined;
  for (const line of readFileSync(fixture('drv/check.txt'), 'utf8').split('\n')) {
    if (line.startsWith('/nix/store/')) out.set(line.trim(), (current = { outputs: new Map() }));
    if (!current) continue;
    let m = /hashDerivationModulo\(masked\) = ([0-9a-f]{64})/.exec(line);
    if (m) current.masked = m[1];
    m = /hashDerivationModulo\(unmasked.*\) = ([0-9a-f]{64})/.exec(line);
    if (m) current.unmasked = m[1];
    m = /modulo hash \(fixed\): ([0-9a-f]{64})/.exec(line);
    if (m) current.fixedModulo = m[1];
    m = /output (\S+): (\S+) OK/.exec(line);
    if (m) current.outputs.set(m[1]!, m[2]!);
  }
  return out;
}

/** The strings modulo-inputs.txt says Nix hashed: name -> { masked, unmasked, fixed }. */
function moduloInputs(): Map<string, { masked?: string; unmasked?: string; fixed?: string }> {
  const out = new Map<string, { masked?: string; unmasked?: string; fixed?: string }>();
  let current: { masked?: string; unmasked?: string; fixed?: string } | undefined;
  for (const line of readFileSync(fixture('drv/modulo-inputs.txt'), 'utf8').split('\n')) {
    const header = /^=== (\S+)/.exec(line);
    if (header) out.set(header[1]!, (current = {}));
    if (!current) continue;
    if (line.startsWith('masked string: ')) current.masked = line.slice('masked string: '.length);
    if (line.startsWith('unmasked string: ')) current.unmasked = line.slice('unmasked string: '.length);
    if (line.startsWith('fixed-output string: ')) current.fixed = line.slice('fixed-output string: '.length);
  }
  return out;
}

describe('derivation vectors made by Nix 2.8 (vectors/drv)', () => {
  const expected = checks();
  const hashed = moduloInputs();

  it('has all 8 vectors with their checks', () => {
    assert.equal(paths.size, 8);
    assert.equal(expected.size, 8);
    assert.equal(hashed.size, 8);
  });

  for (const [name, drvPath] of paths) {
    describe(name, () => {
      const drv = (): Derivation => parseDerivation(bytesOf(name), drvPath);
      const want = (): Expected => expected.get(drvPath)!;

      it('prints back byte for byte what it parsed', () => {
        assert.ok(printDerivation(drv()).equals(bytesOf(name)));
      });

      it('gets the store path Nix gave the .drv file', () => {
        assert.equal(derivationStorePath(drv(), drvNameFromPath(drvPath)), drvPath);
        const object = derivationStoreObject(drv(), drvNameFromPath(drvPath));
        assert.ok(object.contents.equals(bytesOf(name)));
        assert.equal(object.ca, `text:sha256:${object.contentHash.toNix32()}`);
        assert.deepEqual(object.references, [...drv().inputSrcs, ...drv().inputDrvs.keys()].sort());
      });

      it('hashes the same strings as Nix for hashDerivationModulo', () => {
        const strings = hashed.get(name)!;
        if (isFixedOutput(drv())) {
          assert.equal(derivationModuloText(drv(), true, readDrv).toString('utf8'), strings.fixed);
          return;
        }
        assert.equal(derivationModuloText(drv(), true, readDrv).toString('utf8'), strings.masked);
        assert.equal(derivationModuloText(drv(), false, readDrv).toString('utf8'), strings.unmasked);
      });

      it('gets the masked and unmasked modulo hashes Nix got', () => {
        const w = want();
        if (w.fixedModulo !== undefined) {
          assert.equal(hashDerivationModulo(drv(), true, readDrv).toBase16(), w.fixedModulo);
          assert.equal(hashDerivationModulo(drv(), false, readDrv).toBase16(), w.fixedModulo);
          return;
        }
        assert.equal(hashDerivationModulo(drv(), true, readDrv).toBase16(), w.masked);
        assert.equal(hashDerivationModulo(drv(), false, readDrv).toBase16(), w.unmasked);
      });

      it('recomputes every output path', () => {
        const got = derivationOutputPaths(drv(), drvNameFromPath(drvPath), readDrv);
        assert.deepEqual([...got].sort(), [...want().outputs].sort());
        assert.ok(want().outputs.size > 0);
        checkDerivationOutputs(drv(), drvPath, readDrv);
      });
    });
  }

  it('gives the same modulo hash through the async reader', async () => {
    const drvPath = paths.get('dependent')!;
    const got = await hashDerivationModuloAsync(readDrv(drvPath), true, async (p) => readDrv(p));
    assert.equal(got.toBase16(), expected.get(drvPath)!.masked);
  });

  it('a dependent uses the unmasked hash of each input, merged by hash', () => {
    const text = derivationModuloText(readDrv(paths.get('dependent')!), true, readDrv).toString('utf8');
    assert.ok(text.includes(`("${expected.get(paths.get('simple')!)!.unmasked}",["out"])`));
    assert.ok(text.includes(`("${expected.get(paths.get('multi')!)!.unmasked}",["dev"])`));
  });
});
