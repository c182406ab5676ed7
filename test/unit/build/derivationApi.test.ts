import assert from 'node:assert/strict';
import { derivation, derivationClosure, DerivationSpecError, outputOf, type DerivationHandle } from '../../../src/build/derivationApi.js';
import { printDerivation } from '../../../src/format/derivation/index.js';
import { drvBytes, drvPaths } from '../../support/drvVectors.js';

// The vectors' expressions (test/fixtures/drv/drvs.nix), written with the API.
const BBDIR = '/nix/store/mxzxqjhhdimzlhlil55ba8gp6zrgcbhz-bbdir';
const SCRIPT = '/nix/store/j12c16ch61yvlwgq9ah0xcw1q2rd90yi-script.txt';
const SH = `${BBDIR}/sh`;

function mk(spec: Omit<Parameters<typeof derivation>[0], 'builder'>): DerivationHandle {
  return derivation({ builder: SH, ...spec, inputs: [BBDIR, ...(spec.inputs ?? [])] });
}

function vectorHandles(): Record<string, DerivationHandle> {
  const simple = mk({ name: 'simple', args: ['-c', 'echo hello > $out'] });
  const multi = mk({ name: 'multi', outputs: ['out', 'dev', 'lib'], args: ['-c', 'echo o > $out; echo d > $dev; echo l > $lib'] });
  const dependent = mk({
    name: 'dependent',
    args: ['-c', `cat ${simple.out} ${multi.outputs['dev']} ${SCRIPT} > $out`],
    inputs: [simple, outputOf(multi, 'dev'), SCRIPT],
  });
  const echo = ['-c', 'echo hello > $out'];
  const fixedFlat = mk({
    name: 'fixed-flat',
    args: echo,
    outputHashMode: 'flat',
    outputHashAlgo: 'sha256',
    outputHash: '5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03',
  });
  const fixedRec = mk({
    name: 'fixed-rec',
    args: echo,
    outputHashMode: 'recursive',
    outputHashAlgo: 'sha256',
    outputHash: '04zwf782yjwnh3q6hz5izfd6jyip8kgw6g6yj43fiqhbyhdd0dqw',
  });
  const fixedSha1 = mk({ name: 'fixed-sha1', args: echo, outputHashAlgo: 'sha1', outputHash: 'f572d396fae9206628714fb2ce00f72e94f2258f' });
  const usesFixed = mk({ name: 'uses-fixed', args: ['-c', `cat ${fixedFlat.out} ${fixedRec.out} > $out`], inputs: [fixedFlat, fixedRec] });
  // Nix turns the other attribute types into strings: lists space-joined, true "1", null "".
  const escapes = mk({
    name: 'escapes',
    args: ['-c', 'echo "$weird" > $out; cat $longPath >> $out'],
    env: {
      weird: 'quote" backslash\\ newline\n tab\t cr\r dollar$ unicode-é',
      longPath: 'passed as a file',
      passAsFile: 'longPath',
      allowedReferences: '',
      preferLocalBuild: '1',
      impureEnvVars: 'http_proxy',
      emptyStr: '',
      aList: 'x 1 1 ',
    },
  });
  return { simple, multi, dependent, fixedFlat, fixedRec, fixedSha1, usesFixed, escapes };
}

describe('derivation API', () => {
  describe('gives what nix-instantiate wrote for the same attributes', () => {
    const handles = vectorHandles();
    for (const [name, handle] of Object.entries(handles)) {
      it(`${name}: the same .drv path and bytes`, () => {
        assert.equal(handle.drvPath, drvPaths.get(name));
        assert.equal(printDerivation(handle.drv).toString('utf8'), drvBytes(name).toString('utf8'));
      });
    }
  });

  it('puts every attribute in the environment, outputs only when given, each output under its name', () => {
    const one = derivation({ name: 'one', builder: '/bin/sh', args: ['-c', 'x'], env: { greeting: 'hi' } });
    assert.deepEqual([...one.drv.env.keys()].sort(), ['builder', 'greeting', 'name', 'out', 'system']);
    assert.equal(one.drv.env.get('system'), 'x86_64-linux');
    assert.equal(one.drv.platform, 'x86_64-linux');
    const two = derivation({ name: 'two', builder: '/bin/sh', outputs: ['lib', 'out'], system: 'aarch64-linux' });
    assert.equal(two.drv.env.get('outputs'), 'lib out');
    assert.equal(two.drv.env.get('lib'), two.outputs['lib']);
    assert.match(two.outputs['lib']!, /-two-lib$/);
    assert.equal(two.drv.platform, 'aarch64-linux');
    // The default output is the first one, as a derivation's outPath is in Nix.
    assert.equal(two.out, two.outputs['lib']);
    assert.deepEqual(two.drv.args, []);
  });

  it('takes handles as input derivations and store paths (or paths inside them) as input sources', () => {
    const lib = derivation({ name: 'lib', builder: '/bin/sh', outputs: ['out', 'dev'] });
    const user = derivation({
      name: 'user',
      builder: '/bin/sh',
      inputs: [lib, outputOf(lib, 'dev'), `${BBDIR}/sh`, SCRIPT, lib],
    });
    assert.deepEqual([...user.drv.inputDrvs], [[lib.drvPath, ['out', 'dev']]]);
    assert.deepEqual(user.drv.inputSrcs.sort(), [SCRIPT, BBDIR]);
    assert.deepEqual(user.inputHandles, [lib]);
  });

  it('a different input changes the output paths', () => {
    const a = derivation({ name: 'dep', builder: '/bin/sh', env: { v: '1' } });
    const b = derivation({ name: 'dep', builder: '/bin/sh', env: { v: '2' } });
    const onA = derivation({ name: 'top', builder: '/bin/sh', inputs: [a] });
    const onB = derivation({ name: 'top', builder: '/bin/sh', inputs: [b] });
    assert.notEqual(onA.out, onB.out);
  });

  it('keeps the fixed output hash as written in the environment and in base 16 in the output', () => {
    const sri = 'sha256-WJG1tSLV3whtD/CxEPvZ0hu0/HFjrzTQgoai6Eb2vgM=';
    const f = derivation({ name: 'fetched', builder: '/bin/sh', outputHash: sri });
    assert.equal(f.drv.env.get('outputHash'), sri);
    assert.equal(f.drv.env.has('outputHashAlgo'), false);
    assert.deepEqual(f.drv.outputs.get('out'), {
      path: f.out,
      hashAlgo: 'sha256',
      hash: '5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03',
    });
    // Same hash and name, different builder: the same output path, as for any fetcher.
    const g = derivation({ name: 'fetched', builder: '/bin/other', outputHash: sri });
    assert.equal(g.out, f.out);
    assert.notEqual(g.drvPath, f.drvPath);
  });

  it('computes paths under another store directory', () => {
    const h = derivation({ name: 'elsewhere', builder: '/bin/sh' }, '/tmp/store');
    assert.match(h.drvPath, /^\/tmp\/store\/[0-9a-z]{32}-elsewhere\.drv$/);
    assert.match(h.out, /^\/tmp\/store\/[0-9a-z]{32}-elsewhere$/);
  });

  describe('refuses what Nix refuses', () => {
    const cases: [string, () => unknown, RegExp][] = [
      ['an empty output list', () => derivation({ name: 'x', builder: '/b', outputs: [] }), /empty set of outputs/],
      ['an output named drv', () => derivation({ name: 'x', builder: '/b', outputs: ['out', 'drv'] }), /invalid derivation output name 'drv'/],
      ['a duplicate output', () => derivation({ name: 'x', builder: '/b', outputs: ['out', 'out'] }), /duplicate derivation output 'out'/],
      ['a name ending in .drv', () => derivation({ name: 'x.drv', builder: '/b' }), /not allowed to end in '\.drv'/],
      ['a name with a bad character', () => derivation({ name: 'a b', builder: '/b' }), /a b/],
      [
        'a fixed output with two outputs',
        () => derivation({ name: 'x', builder: '/b', outputs: ['out', 'dev'], outputHash: 'sha256-WJG1tSLV3whtD/CxEPvZ0hu0/HFjrzTQgoai6Eb2vgM=' }),
        /multiple outputs are not supported in fixed-output derivations/,
      ],
      ['a hash of the wrong type', () => derivation({ name: 'x', builder: '/b', outputHashAlgo: 'sha1', outputHash: 'sha256-WJG1tSLV3whtD/CxEPvZ0hu0/HFjrzTQgoai6Eb2vgM=' }), /should have type 'sha1'/],
      ['an env key the spec sets', () => derivation({ name: 'x', builder: '/b', env: { out: '/x' } }), /env\.out is set from the spec/],
      ['an input outside the store', () => derivation({ name: 'x', builder: '/b', inputs: ['/usr/bin/env'] }), /not in the Nix store/],
      ['an output a handle lacks', () => outputOf(derivation({ name: 'x', builder: '/b' }), 'dev'), /has no output 'dev'/],
    ];
    for (const [what, make, message] of cases) {
      it(what, () => {
        assert.throws(make, (e: unknown) => e instanceof DerivationSpecError && message.test(e.message) && !e.message.includes('\n'));
      });
    }
  });

  it('derivationClosure lists every derivation once, inputs first', () => {
    const { dependent, simple, multi, usesFixed, fixedFlat, fixedRec } = vectorHandles();
    const order = derivationClosure([usesFixed!, dependent!, simple!]).map((h) => h.drvPath);
    assert.equal(order.length, 6);
    assert.equal(new Set(order).size, 6);
    const before = (a: DerivationHandle, b: DerivationHandle): boolean => order.indexOf(a.drvPath) < order.indexOf(b.drvPath);
    assert.ok(before(fixedFlat!, usesFixed!) && before(fixedRec!, usesFixed!));
    assert.ok(before(simple!, dependent!) && before(multi!, dependent!));
  });
});
