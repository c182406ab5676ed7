/**
 * `.drv` files that real nix-instantiate wrote build under tsnix to the output paths nix
 * computed, with the same NAR hashes and references as nix's own builds of them, and real
 * `nix-store --verify --check-contents` accepts the store afterwards.
 */
import assert from 'node:assert/strict';
import { copyFileSync, chmodSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir, tsnixStore } from '../support/cli.js';
import { nixOk, requireNix, runNix } from '../support/nix.js';

const EXPRESSION = `
let bb = builtins.storePath (builtins.readFile ./bb.path);
    sh = script: { builder = "\${bb}/bin/busybox"; args = [ "sh" "-c" script ]; system = "x86_64-linux"; };
in rec {
  leaf = derivation (sh "echo leaf > $out" // { name = "leaf"; });
  twoOut = derivation (sh "mkdir $out $dev; echo \${leaf} > $out/uses-leaf; echo $out > $dev/self" // { name = "two"; outputs = [ "out" "dev" ]; });
  fixed = derivation (sh "echo fixed > $out" // { name = "fixed"; outputHashMode = "flat"; outputHashAlgo = "sha256"; outputHash = "0d75vbn546fz9d9ip0f03daqhpm99h3fv14ci4afcmk3ir0p2c0c"; });
  top = derivation (sh "mkdir $out; cat \${twoOut}/uses-leaf > $out/a; echo \${twoOut.dev} \${fixed} > $out/b; ln -s \${leaf} $out/link" // { name = "top"; });
}
`;

describe('interop: building derivations nix-instantiate wrote', function () {
  this.timeout(180000);
  let nixStore: string;
  let nixInstantiate: string;
  let work: string;
  before(function () {
    nixStore = requireNix(this);
    nixInstantiate = requireNix(this, 'nix-instantiate');
  });
  beforeEach(() => {
    work = tempDir('tsnix-interop-build-');
  });
  afterEach(() => rmSync(work, { recursive: true, force: true }));

  /** A chroot store holding busybox and the instantiated graph; returns the top .drv. */
  function instantiate(root: string): string {
    const src = join(work, 'src', 'busybox-static');
    mkdirSync(join(src, 'bin'), { recursive: true });
    copyFileSync('/bin/busybox', join(src, 'bin/busybox'));
    chmodSync(join(src, 'bin/busybox'), 0o555);
    const bb = nixOk(nixStore, ['--store', root, '--add', src]).trim();
    writeFileSync(join(work, 'bb.path'), bb);
    writeFileSync(join(work, 'graph.nix'), EXPRESSION);
    return nixOk(nixInstantiate, ['--store', root, join(work, 'graph.nix'), '-A', 'top']).trim();
  }

  it('builds to nix\'s output paths with nix\'s NAR hashes and references; nix --verify --check-contents accepts the store', async () => {
    const ours = join(work, 'ours');
    const theirs = join(work, 'theirs');
    const drv = instantiate(ours);
    assert.equal(instantiate(theirs), drv, 'both stores hold the same .drv');

    const r = await tsnixStore(['--store', ours, '-r', drv]);
    assert.equal(r.code, 0, r.stderr);
    const expected = nixOk(nixStore, ['--store', ours, '-q', '--outputs', drv]).trim();
    assert.equal(r.stdout.toString().trim(), expected);

    const nixBuild = runNix(nixStore, ['--store', theirs, '--option', 'substituters', '', '--option', 'sandbox', 'true', '-r', drv]);
    assert.equal(nixBuild.status, 0, nixBuild.stderr);

    const closure = nixOk(nixStore, ['--store', theirs, '-qR', expected]).trim().split('\n');
    assert.ok(closure.length >= 5, closure.join('\n'));
    for (const path of closure) {
      for (const query of ['--hash', '--references', '--size', '--deriver']) {
        assert.equal(nixOk(nixStore, ['--store', ours, '-q', query, path]), nixOk(nixStore, ['--store', theirs, '-q', query, path]), `${query} of ${path}`);
      }
    }
    const verify = runNix(nixStore, ['--store', ours, '--verify', '--check-contents']);
    assert.equal(verify.status, 0, verify.stderr);
    assert.doesNotMatch(verify.stderr, /error|warning|modified|invalid/i);
  });
});
