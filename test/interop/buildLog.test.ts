/**
 * Build logs cross between tsnix and real nix: a log BuildLogWriter wrote (bzip2 or plain) is
 * what `nix-store -l` prints, and a log nix wrote for a real build is what `tsnix-store -l`
 * prints, for the .drv, for its output (through the deriver) and through a symlink.
 */
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BuildLogWriter } from '../../src/build/buildLog.js';
import { StoreLayout } from '../../src/store/layout.js';
import { tempDir, tsnixStore } from '../support/cli.js';
import { nixBytes, nixOk, requireNix, runNix } from '../support/nix.js';

const NO_CACHE = ['--option', 'substituters', ''];

/** A Nix string literal of `text`. */
function nixString(text: string): string {
  return `"${text.replace(/[\\"$]/g, (c) => `\\${c}`)}"`;
}

/** What a builder prints: colour, a tab, UTF-8, a redrawn progress line on stderr, and no final newline. */
const BUILDER_SCRIPT = [
  "printf 'hello from the builder\\n'",
  "printf '\\033[1;31mred\\033[0m\\ttabbed\\n'",
  "printf 'progress 50%%\\rprogress 100%%\\n' >&2",
  "printf 'caf\\303\\251 \\342\\234\\223\\n'",
  'echo built > $out',
  "printf 'no newline at the end'",
].join('; ');

async function tsnixLog(root: string, arg: string): Promise<Buffer> {
  const result = await tsnixStore(['--store', root, '-l', arg]);
  assert.equal(result.code, 0, result.stderr);
  return result.stdout;
}

describe('build logs between tsnix and nix', function () {
  let nixStore: string;
  let nixInstantiate: string;
  let root: string;
  let work: string;
  let busybox: string;

  before(function () {
    nixStore = requireNix(this);
    nixInstantiate = requireNix(this, 'nix-instantiate');
    root = tempDir('tsnix-log-store-');
    work = tempDir('tsnix-log-work-');
    mkdirSync(join(work, 'bbsrc/bin'), { recursive: true });
    copyFileSync('/bin/busybox', join(work, 'bbsrc/bin/busybox'));
    busybox = nixOk(nixStore, ['--store', root, ...NO_CACHE, '--add', join(work, 'bbsrc')]).trim();
  });
  after(() => {
    rmSync(root, { recursive: true, force: true });
    rmSync(work, { recursive: true, force: true });
  });

  /** Instantiates (and with `build`, builds with real nix) a busybox derivation; returns its .drv path. */
  function derivation(name: string, options: { build?: boolean; compress?: boolean } = {}): string {
    const file = join(work, `${name}.nix`);
    writeFileSync(
      file,
      `let bb = builtins.storePath ${nixString(busybox)}; in
       derivation { name = ${nixString(name)}; system = "x86_64-linux"; builder = "\${bb}/bin/busybox";
                    args = [ "sh" "-c" ${nixString(BUILDER_SCRIPT)} ]; }`,
    );
    const drv = nixOk(nixInstantiate, ['--store', root, ...NO_CACHE, file]).trim();
    if (options.build) {
      const compress = options.compress === false ? ['--option', 'compress-build-log', 'false'] : [];
      nixOk(nixStore, ['--store', root, ...NO_CACHE, '--option', 'sandbox', 'true', ...compress, '-r', drv]);
    }
    return drv;
  }

  describe('a log tsnix wrote is printed by nix-store -l', () => {
    const lines = [
      'plain text',
      '\x1b[1;32mcoloured\x1b[0m\tand tabbed',
      '',
      'naïve café ✓ 🎉',
      'x'.repeat(200_000),
      ...Array.from({ length: 20_000 }, (_, i) => `line ${i} of a longer log`),
    ];
    const expected = Buffer.from(lines.map((line) => `${line}\n`).join(''));

    for (const compress of [true, false]) {
      it(`byte for byte, ${compress ? 'bzip2-compressed' : 'plain'}`, async () => {
        const drv = derivation(compress ? 'written-compressed' : 'written-plain');
        const writer = BuildLogWriter.open(new StoreLayout({ root }), drv, compress);
        for (const line of lines) writer.writeLine(line);
        await writer.close();
        const printed = nixBytes(nixStore, ['--store', root, '-l', drv]);
        assert.ok(printed.equals(expected), `nix-store -l printed ${printed.length} bytes, expected ${expected.length}`);
        assert.ok((await tsnixLog(root, drv)).equals(expected));
      });
    }
  });

  describe('a log nix wrote for a build is printed by tsnix-store -l', () => {
    for (const compress of [true, false]) {
      it(`identically, for the .drv, its output and a symlink to the output (${compress ? 'bzip2' : 'plain'} log)`, async () => {
        const drv = derivation(compress ? 'built-compressed' : 'built-plain', { build: true, compress });
        const output = nixOk(nixStore, ['--store', root, '-q', '--outputs', drv]).trim();
        const base = drv.slice('/nix/store/'.length);
        const file = join(root, 'nix/var/log/nix/drvs', base.slice(0, 2), base.slice(2) + (compress ? '.bz2' : ''));
        assert.ok(existsSync(file), `nix wrote ${file}`);
        const expected = nixBytes(nixStore, ['--store', root, '-l', drv]);
        assert.match(expected.toString(), /hello from the builder\n[^]*progress 50%\rprogress 100%\n[^]*no newline at the end$/);
        assert.ok((await tsnixLog(root, drv)).equals(expected), 'tsnix-store -l DRV');
        assert.ok((await tsnixLog(root, output)).equals(expected), 'tsnix-store -l OUTPUT');
        const link = join(work, `result-${compress ? 'bz2' : 'plain'}`);
        symlinkSync(output, link);
        assert.ok((await tsnixLog(root, link)).equals(expected), 'tsnix-store -l ./result');
      });
    }
  });

  describe('a missing log is the same error as nix-store -l', () => {
    it('for a derivation that never built, a path without a deriver, and an invalid path', async () => {
      const never = derivation('never-built');
      const invalidOutput = nixOk(nixStore, ['--store', root, '-q', '--outputs', never]).trim();
      for (const path of [never, busybox, invalidOutput]) {
        const nix = runNix(nixStore, ['--store', root, '-l', path]);
        const ours = await tsnixStore(['--store', root, '-l', path]);
        assert.equal(nix.status, 1);
        assert.equal(ours.code, nix.status, path);
        assert.equal(ours.stderr, nix.stderr, path);
        assert.equal(ours.stderr, `error: build log of derivation '${path}' is not available\n`);
      }
    });
  });
});
