import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import {
  checkDerivationOutputs,
  cloneDerivation,
  derivationKind,
  derivationOutputPaths,
  derivationStorePath,
  drvNameFromPath,
  fillDerivationOutputs,
  fillDerivationOutputsAsync,
  fixedOutputHash,
  isFixedOutput,
  outputKind,
  parseDerivation,
  printDerivation,
  type Derivation,
} from '../../../src/format/derivation/index.js';
import { DerivationFormatError } from '../../../src/format/errors.js';
import { fixture } from '../../support/fixtures.js';

const paths = new Map(
  readFileSync(fixture('drv/paths.txt'), 'utf8')
    .trim()
    .split('\n')
    .map((line) => line.split(' ') as [string, string]),
);
const nameOf = new Map([...paths].map(([name, path]) => [path, name]));
const bytesOf = (name: string): Buffer => readFileSync(fixture(`drv/${name}.drv`));
const vector = (name: string): Derivation => parseDerivation(bytesOf(name), paths.get(name)!);
const readDrv = (drvPath: string): Derivation => vector(nameOf.get(drvPath)!);

/** The derivation as the evaluator hands it over: no output paths, no output env vars. */
function unfilled(drv: Derivation): Derivation {
  const copy = cloneDerivation(drv);
  for (const [id, o] of copy.outputs) {
    o.path = '';
    copy.env.delete(id);
  }
  return copy;
}

describe('filling in outputs the way nix-instantiate does', () => {
  for (const name of ['simple', 'multi', 'dependent', 'fixedFlat', 'fixedRec', 'fixedSha1', 'usesFixed', 'escapes']) {
    it(`reproduces ${name}.drv byte for byte, and its store path`, () => {
      const drvName = drvNameFromPath(paths.get(name)!);
      const filled = fillDerivationOutputs(unfilled(vector(name)), drvName, readDrv);
      assert.ok(printDerivation(filled).equals(bytesOf(name)));
      assert.equal(derivationStorePath(filled, drvName), paths.get(name));
    });
  }

  it('does the same through an async reader', async () => {
    const filled = await fillDerivationOutputsAsync(unfilled(vector('dependent')), 'dependent', async (p) => readDrv(p));
    assert.ok(printDerivation(filled).equals(bytesOf('dependent')));
  });

  it('leaves the derivation it was given untouched', () => {
    const input = unfilled(vector('simple'));
    const before = printDerivation(input);
    fillDerivationOutputs(input, 'simple', readDrv);
    assert.ok(printDerivation(input).equals(before));
  });
});

describe('checkDerivationOutputs', () => {
  const simplePath = paths.get('simple')!;
  const good = '/nix/store/dzlyqx2ian7g7d3q7c82f62y9gabffbn-simple';
  const wrong = '/nix/store/00000000000000000000000000000000-simple';

  it('accepts every vector', () => {
    for (const [name, drvPath] of paths) checkDerivationOutputs(vector(name), drvPath, readDrv);
  });

  it("rejects a wrong output path with Nix's wording", () => {
    const drv = vector('simple');
    drv.outputs.get('out')!.path = wrong;
    drv.env.set('out', wrong);
    assert.throws(
      () => checkDerivationOutputs(drv, simplePath, readDrv),
      (e: unknown) =>
        e instanceof DerivationFormatError &&
        e.message === `derivation '${simplePath}' has incorrect output '${wrong}', should be '${good}'`,
    );
  });

  it('rejects an output env var that does not hold the output path', () => {
    const drv = vector('simple');
    drv.env.set('out', wrong);
    assert.throws(
      () => checkDerivationOutputs(drv, simplePath, readDrv),
      new RegExp(`^DerivationFormatError: derivation '${simplePath}' has incorrect environment variable 'out', should be '${good}'$`),
    );
    // Without the env var the masked text (and so the output path) differs too.
    drv.env.delete('out');
    assert.throws(() => checkDerivationOutputs(drv, simplePath, readDrv), /has incorrect output '.*', should be/);
  });

  it('rejects a fixed output whose path does not match its hash', () => {
    const drv = vector('fixedFlat');
    drv.outputs.get('out')!.hash = '0'.repeat(64);
    assert.throws(() => checkDerivationOutputs(drv, paths.get('fixedFlat')!, readDrv), /has incorrect output '.*-fixed-flat', should be/);
  });

  it('notices a changed input: the output path depends on the whole graph', () => {
    const changedInputs = (p: string): Derivation => {
      const drv = readDrv(p);
      if (p === paths.get('simple')) drv.args = ['-c', 'echo changed > $out'];
      return drv;
    };
    assert.throws(() => checkDerivationOutputs(vector('dependent'), paths.get('dependent')!, changedInputs), /has incorrect output/);
    // Fixed-output inputs only count through their output: a different fetcher changes nothing.
    const otherFetcher = (p: string): Derivation => {
      const drv = readDrv(p);
      if (isFixedOutput(drv)) drv.args = ['-c', 'wget -O $out https://example.org/hello'];
      return drv;
    };
    checkDerivationOutputs(vector('usesFixed'), paths.get('usesFixed')!, otherFetcher);
  });
});

describe('output kinds', () => {
  const output = (path: string, hashAlgo = '', hash = ''): { path: string; hashAlgo: string; hash: string } => ({ path, hashAlgo, hash });
  const withOutputs = (entries: [string, ReturnType<typeof output>][]): Derivation => ({ ...vector('simple'), outputs: new Map(entries) });
  const sha256 = '5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03';

  it('classifies each column combination', () => {
    assert.equal(outputKind(output('/nix/store/x')), 'inputAddressed');
    assert.equal(outputKind(output('/nix/store/x', 'r:sha256', sha256)), 'fixed');
    assert.equal(outputKind(output('', 'sha256')), 'floating');
    assert.equal(outputKind(output('')), 'deferred');
    assert.equal(outputKind(output('', 'r:sha256', 'impure')), 'impure');
  });

  it('tells fixed-output derivations apart and reads their method and hash', () => {
    assert.equal(isFixedOutput(vector('fixedRec')), true);
    assert.equal(isFixedOutput(vector('simple')), false);
    const { method, hash } = fixedOutputHash(vector('fixedRec').outputs.get('out')!);
    assert.equal(method, 'recursive');
    assert.equal(hash.format('base16'), 'sha256:1c37d01af40be2e80691de3cc3df44377a699afbb17c68f080964b2fd071fc13');
    assert.equal(fixedOutputHash(vector('fixedSha1').outputs.get('out')!).method, 'flat');
  });

  it("refuses the combinations Nix refuses, with Nix's wording", () => {
    const fixed = output('/nix/store/f', 'sha256', sha256);
    assert.throws(() => derivationKind(withOutputs([])), /must have at least one output/);
    assert.throws(() => derivationKind(withOutputs([['dev', output('/nix/store/d')], ['out', fixed]])), /can't mix derivation output types/);
    assert.throws(() => derivationKind(withOutputs([['a', fixed], ['out', fixed]])), /only one fixed output is allowed for now/);
    assert.throws(() => derivationKind(withOutputs([['bin', fixed]])), /single fixed output must be named "out"/);
  });

  it('has no output paths to offer for experimental floating outputs', () => {
    assert.throws(
      () => derivationOutputPaths(withOutputs([['out', output('', 'sha256')]]), 'simple', readDrv),
      /has floating outputs \(an experimental Nix feature\)/,
    );
  });
});

describe('drvNameFromPath', () => {
  it('takes the name from the store path, as Nix does', () => {
    assert.equal(drvNameFromPath('/nix/store/4cwf6w49y0bzsb0ckl9fvarrswq19138-fixed-flat.drv'), 'fixed-flat');
  });

  it('rejects paths that are not .drv store paths', () => {
    assert.throws(() => drvNameFromPath('/nix/store/4cwf6w49y0bzsb0ckl9fvarrswq19138-hello'), DerivationFormatError);
    assert.throws(() => drvNameFromPath('/nix/store/nodash.drv'), /is not a derivation path/);
  });
});
