import assert from 'node:assert/strict';
import {
  checkDerivationOutputs,
  cloneDerivation,
  derivationKind,
  derivationModuloText,
  derivationOutputPaths,
  derivationStorePath,
  drvNameFromPath,
  fillDerivationOutputs,
  fillDerivationOutputsAsync,
  fixedOutputHash,
  hashDerivationModulo,
  isFixedOutput,
  outputKind,
  parseDerivation,
  printDerivation,
  type Derivation,
} from '../../../src/format/derivation/index.js';
import { DerivationFormatError } from '../../../src/format/errors.js';
import { drvBytes, drvNameOf, drvPaths } from '../../support/drvVectors.js';

const paths = drvPaths;
const nameOf = drvNameOf;
const bytesOf = drvBytes;
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

  it('gives the static output hash Nix sends in DrvOutput ids (vectors/protocol/serve-build-derivation)', () => {
    // The derivation as the transcript shows it, before instantiation filled in `out`.
    const bbdir = '/nix/store/mxzxqjhhdimzlhlil55ba8gp6zrgcbhz-bbdir';
    const drv: Derivation = {
      outputs: new Map([['out', { path: '', hashAlgo: '', hash: '' }]]),
      inputDrvs: new Map(),
      inputSrcs: [bbdir],
      platform: 'x86_64-linux',
      builder: `${bbdir}/sh`,
      args: ['-c', 'echo building; echo result3 > $out'],
      env: new Map([
        ['builder', `${bbdir}/sh`],
        ['name', 'rec-build'],
        ['system', 'x86_64-linux'],
      ]),
    };
    const filled = fillDerivationOutputs(drv, 'rec-build', readDrv);
    assert.equal(filled.env.get('out'), '/nix/store/clfy9ncrmlsabf7waqnf040ipgkl8zd6-rec-build');
    assert.equal(derivationStorePath(filled, 'rec-build'), '/nix/store/rnx6j27li7y42npry2flf71dxbccvshf-rec-build.drv');
    const staticHash = hashDerivationModulo(filled, true, readDrv);
    assert.equal(`${staticHash.format('base16')}!out`, 'sha256:a702765370ac9e46077efae0da906e5c38fe31dd0b56183df224098c4534882a!out');
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

describe('hashDerivationModulo with fixed-output inputs', () => {
  it('merges two fetchers of the same fixed output into one input entry', () => {
    const fetcher = (url: string): Derivation => {
      const drv = vector('fixedFlat');
      drv.args = ['-c', `wget -O $out ${url}`];
      return drv;
    };
    const fetchers = new Map([
      ['/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-fixed-flat.drv', fetcher('https://a.example/hello')],
      ['/nix/store/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-fixed-flat.drv', fetcher('https://b.example/hello')],
    ]);
    const consumer = (inputs: string[]): Derivation => ({
      ...vector('simple'),
      inputDrvs: new Map(inputs.map((p) => [p, ['out']])),
    });
    const [a, b] = [...fetchers.keys()] as [string, string];
    const read = (p: string): Derivation => fetchers.get(p)!;
    const both = derivationModuloText(consumer([a, b]), true, read).toString('utf8');
    const fixedHash = hashDerivationModulo(fetchers.get(a)!, true, read).toBase16();
    assert.ok(both.includes(`[("${fixedHash}",["out"])]`), both);
    assert.equal(both, derivationModuloText(consumer([b]), true, read).toString('utf8'));
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
