import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { DerivationFormatError } from '../../../src/format/errors.js';
import { parseDerivation, printDerivation, type Derivation } from '../../../src/format/derivation/index.js';
import { fixture } from '../../support/fixtures.js';

const simple = readFileSync(fixture('drv/simple.drv'), 'latin1');
const multi = readFileSync(fixture('drv/multi.drv'), 'latin1');
const dependent = readFileSync(fixture('drv/dependent.drv'), 'latin1');
const escapes = readFileSync(fixture('drv/escapes.drv'));

/** Parses `text` (bytes given as a latin1 string) and returns the error message. */
function errorOf(text: string | Buffer): string {
  const bytes = typeof text === 'string' ? Buffer.from(text, 'latin1') : text;
  try {
    parseDerivation(bytes, '/x.drv');
  } catch (e) {
    assert.ok(e instanceof DerivationFormatError, `not a DerivationFormatError: ${String(e)}`);
    assert.ok(!e.message.includes('\n'), `message is not one line: ${e.message}`);
    assert.match(e.message, /^file '\/x\.drv' is not a valid derivation: .+ at offset \d+$/);
    return e.message;
  }
  assert.fail('the malformed derivation was accepted');
}

function replaceOnce(text: string, from: string, to: string): string {
  assert.ok(text.includes(from), `fixture lacks ${from}`);
  return text.replace(from, to);
}

describe('parseDerivation rejects malformed .drv files with the file and byte offset', () => {
  it('names the expected token: a missing "("', () => {
    assert.equal(errorOf('Derive[]'), "file '/x.drv' is not a valid derivation: expected '(' at offset 6");
  });

  it('rejects a file that is not a derivation at all', () => {
    assert.match(errorOf('{"outputs":{}}'), /expected 'Derive' at offset 0$/);
    assert.match(errorOf(''), /expected 'Derive' but the file ends at offset 0$/);
  });

  it('rejects the file truncated at every possible length', () => {
    for (let n = 0; n < simple.length; n++) errorOf(simple.slice(0, n));
  });

  it('says where a truncated string was opened', () => {
    const opened = simple.indexOf('"echo hello');
    const cut = simple.slice(0, opened + 5);
    assert.equal(
      errorOf(cut),
      `file '/x.drv' is not a valid derivation: unterminated argument (opened at offset ${opened}): the file ends at offset ${opened + 5}`,
    );
  });

  it('rejects garbage after the final ")"', () => {
    assert.match(errorOf(simple + '\n'), /expected the end of the file after the final '\)' at offset 404$/);
    assert.match(errorOf(simple + ',[]'), /at offset 404$/);
  });

  it('rejects input sources, input derivations and outputs whose paths do not start with "/"', () => {
    assert.match(errorOf(replaceOnce(simple, '["/nix/store/mxzx', '["nix/store/mxzx')), /input source path 'nix\/store\/.*' does not start with '\/' at offset 80$/);
    assert.match(errorOf(replaceOnce(dependent, '[("/nix/store/3ka2', '[("nix/store/3ka2')), /input derivation path .* does not start with '\//);
    assert.match(errorOf(replaceOnce(simple, '"/nix/store/dzly', '"nix/store/dzly')), /output 'out': output path 'nix\/store\/.*' does not start with '\/' at offset 8$/);
  });

  it('rejects outputs that are not in sorted order or are duplicated', () => {
    const swapped = replaceOnce(multi, '("dev",', '("zzz",');
    assert.match(errorOf(swapped), /output 'lib' is out of order \(Nix writes them sorted\) at offset \d+$/);
    const dup = replaceOnce(multi, '("lib",', '("dev",');
    assert.match(errorOf(dup), /duplicate output 'dev'/);
  });

  it('rejects env keys that are not sorted or are duplicated', () => {
    assert.match(errorOf(replaceOnce(simple, '("name","simple")', '("aaa","simple")')), /environment variable 'aaa' is out of order/);
    assert.match(errorOf(replaceOnce(simple, '("name","simple")', '("builder","simple")')), /duplicate environment variable 'builder'/);
  });

  it('rejects unsorted or duplicate input sources, input derivations and their output names', () => {
    const srcs = '["/nix/store/j12c16ch61yvlwgq9ah0xcw1q2rd90yi-script.txt","/nix/store/mxzxqjhhdimzlhlil55ba8gp6zrgcbhz-bbdir"]';
    const srcsSwapped = '["/nix/store/mxzxqjhhdimzlhlil55ba8gp6zrgcbhz-bbdir","/nix/store/j12c16ch61yvlwgq9ah0xcw1q2rd90yi-script.txt"]';
    assert.match(errorOf(replaceOnce(dependent, srcs, srcsSwapped)), /input source '.*script.txt' is out of order/);
    const srcsDup = '["/nix/store/mxzxqjhhdimzlhlil55ba8gp6zrgcbhz-bbdir","/nix/store/mxzxqjhhdimzlhlil55ba8gp6zrgcbhz-bbdir"]';
    assert.match(errorOf(replaceOnce(dependent, srcs, srcsDup)), /duplicate input source/);
    const drvs = dependent.slice(dependent.indexOf('[("/nix/store/3ka'), dependent.indexOf('],["/nix/store/j12') + 1);
    const [a, b] = drvs.slice(2, -2).split('),(');
    assert.match(errorOf(dependent.replace(drvs, `[(${b}),(${a})]`)), /input derivation '.*simple.drv' is out of order/);
    assert.match(errorOf(replaceOnce(dependent, '["dev"]', '["out","dev"]')), /output name of input '.*multi.drv' 'dev' is out of order/);
    assert.match(errorOf(replaceOnce(dependent, '["dev"]', '["dev","dev"]')), /duplicate output name of input/);
  });

  it('rejects escapes and raw control characters that Nix never writes', () => {
    const at = simple.indexOf('echo hello') + 4;
    assert.match(errorOf(replaceOnce(simple, 'echo hello', 'echo\\hello')), new RegExp(`non-canonical escape '\\\\h' in argument at offset ${at}$`));
    assert.match(errorOf(replaceOnce(simple, 'echo hello', 'echo\nhello')), new RegExp(`unescaped control character "\\\\n" in argument at offset ${at}$`));
    assert.match(errorOf(replaceOnce(simple, '"x86_64-linux","/nix', '"x86\\_64-linux","/nix')), /backslash in platform, which Nix writes unescaped/);
  });

  it('rejects output tuples that are no kind of output', () => {
    const tuple = '("out","/nix/store/dzlyqx2ian7g7d3q7c82f62y9gabffbn-simple","","")';
    const bad = (algo: string, hash: string, path = '/nix/store/dzlyqx2ian7g7d3q7c82f62y9gabffbn-simple'): string =>
      errorOf(replaceOnce(simple, tuple, `("out","${path}","${algo}","${hash}")`));
    assert.match(bad('', 'abc'), /output hash 'abc' is given without a hash algorithm at offset 8$/);
    assert.match(bad('sha3', 'abc'), /unknown output hash algorithm 'sha3'/);
    assert.match(bad('sha1', 'F572D396FAE9206628714FB2CE00F72E94F2258F'), /not a lower-case base-16 sha1 digest/);
    assert.match(bad('r:sha256', '04zwf782yjwnh3q6hz5izfd6jyip8kgw6g6yj43fiqhbyhdd0dqw'), /not a lower-case base-16 sha256 digest/);
    assert.match(bad('sha1', 'f572d396fae9206628714fb2ce00f72e94f2258f', ''), /fixed output with hash .* has an empty path/);
    assert.match(bad('sha256', ''), /floating content-addressed output must have an empty path, not '\/nix\/store\/.*-simple'/);
  });

  it('fails fast on deeply nested input instead of overflowing the stack', () => {
    assert.match(errorOf('Derive(' + '['.repeat(1_000_000)), /expected '\(' at offset 8$/);
    assert.match(errorOf('Derive([' + '('.repeat(1_000_000)), /expected '"' opening output name at offset 9$/);
  });

  it('counts offsets in bytes after UTF-8 text', () => {
    const text = escapes.toString('latin1');
    // The file ends with `é")])`; the ')' after the last env value is 3 bytes from the end.
    const broken = replaceOnce(text, 'unicode-\xc3\xa9")', 'unicode-\xc3\xa9"!');
    assert.match(errorOf(broken), new RegExp(`expected '\\)' at offset ${escapes.length - 3}$`));
  });
});

describe('parseDerivation and printDerivation keep every byte', () => {
  it('round trips the escapes vector: quote, backslash, newline, tab, CR, $ and UTF-8', () => {
    const drv = parseDerivation(escapes, 'escapes.drv');
    assert.equal(drv.env.get('weird'), 'quote" backslash\\ newline\n tab\t cr\r dollar$ unicode-é');
    assert.ok(printDerivation(drv).equals(escapes));
  });

  it('keeps bytes that are not UTF-8 as lone surrogates and writes them back raw', () => {
    const bytes = readFileSync(fixture('drv-json/badutf.drv'));
    const drv = parseDerivation(bytes, 'badutf.drv');
    assert.equal(drv.env.get('raw'), 'x\udcffy\udcc3');
    assert.ok(printDerivation(drv).equals(bytes));
  });

  it('round trips a 20 MB derivation with a huge script and many variables', function () {
    this.timeout(30_000);
    const drv = parseDerivation(Buffer.from(simple, 'latin1'), 'simple.drv');
    drv.env.set('script', 'echo "line" \\ $x\n\t'.repeat(1_000_000));
    for (let i = 0; i < 20_000; i++) drv.env.set(`var${i}`, `value ${i}\n`);
    const bytes = printDerivation(drv);
    assert.ok(bytes.length > 20_000_000);
    const again = parseDerivation(bytes, 'big.drv');
    assert.equal(again.env.get('script'), drv.env.get('script'));
    assert.ok(printDerivation(again).equals(bytes));
  });

  it('prints maps sorted by bytes whatever order they were built in', () => {
    const drv: Derivation = {
      outputs: new Map([
        ['out', { path: '/nix/store/o', hashAlgo: '', hash: '' }],
        ['dev', { path: '/nix/store/d', hashAlgo: '', hash: '' }],
      ]),
      inputDrvs: new Map([
        ['/nix/store/b.drv', ['out', 'bin']],
        ['/nix/store/a.drv', ['out']],
      ]),
      inputSrcs: ['/nix/store/z', '/nix/store/a'],
      platform: 'x86_64-linux',
      builder: '/bin/sh',
      args: ['b', 'a'],
      // U+FFFF sorts before U+10000 in UTF-8 bytes, though not in UTF-16 code units.
      env: new Map([
        ['\u{10000}', '2'],
        ['\uffff', '1'],
        ['B', '0'],
      ]),
    };
    const text = printDerivation(drv).toString('utf8');
    assert.equal(
      text,
      'Derive([("dev","/nix/store/d","",""),("out","/nix/store/o","","")],' +
        '[("/nix/store/a.drv",["out"]),("/nix/store/b.drv",["bin","out"])],["/nix/store/a","/nix/store/z"],' +
        '"x86_64-linux","/bin/sh",["b","a"],[("B","0"),("\uffff","1"),("\u{10000}","2")])',
    );
    assert.deepEqual(parseDerivation(text, 'sorted.drv'), {
      ...drv,
      inputDrvs: new Map([
        ['/nix/store/a.drv', ['out']],
        ['/nix/store/b.drv', ['bin', 'out']],
      ]),
      inputSrcs: ['/nix/store/a', '/nix/store/z'],
    });
  });

  it('refuses to print a quote or backslash where Nix writes strings unescaped', () => {
    const drv = parseDerivation(Buffer.from(simple, 'latin1'), 'simple.drv');
    drv.platform = 'x86"64';
    assert.throws(() => printDerivation(drv), /platform 'x86"64' contains/);
  });
});
