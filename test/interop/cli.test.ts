/**
 * tsnix-store and real nix-store on one store, both ways: what one writes the other
 * reads, verifies and dumps identically, and export streams cross between them.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir, TSNIX_STORE, tsnixStore, tsnixStoreOk } from '../support/cli.js';
import { fixture } from '../support/fixtures.js';
import { nixBytes, nixOk, requireNix, runNix } from '../support/nix.js';
import { TREE_NAMES, unpackTrees } from '../support/trees.js';

/** Queries whose answer is one line per argument, so one call can ask about every path. */
const PER_PATH_QUERIES = ['--hash', '--size', '--deriver', '--outputs'];
/** Queries whose answer for several arguments is a union or a forest: asked per path and for all at once. */
const SET_QUERIES = ['--references', '--referrers', '--requisites', '--referrers-closure', '--tree', '--graph'];

/** Every query gives the same output from nix-store and tsnix-store on `root`. */
async function assertSameQueries(nixStore: string, root: string, paths: string[]): Promise<void> {
  const same = async (args: string[]): Promise<void> => {
    const expected = nixOk(nixStore, ['--store', root, ...args]);
    assert.equal(await tsnixStoreOk(['--store', root, ...args]), expected, args.join(' '));
  };
  for (const query of PER_PATH_QUERIES) await same(['-q', query, ...paths]);
  for (const query of SET_QUERIES) await same(['-q', query, ...paths]);
  for (const path of paths) {
    await same(['-q', '--references', path]);
    await same(['-q', '--referrers', path]);
    await same(['-q', '--tree', path]);
  }
}

async function assertSameDumps(nixStore: string, root: string, paths: string[]): Promise<void> {
  for (const path of paths) {
    const expected = nixBytes(nixStore, ['--dump', join(root, path)]);
    const actual = await tsnixStore(['--dump', join(root, path)]);
    assert.equal(actual.code, 0, actual.stderr);
    assert.ok(actual.stdout.equals(expected), `--dump ${path}`);
  }
}

/** A small derivation graph instantiated by real nix-instantiate (a .drv store gives references, derivers and outputs). */
function instantiateGraph(root: string): string[] {
  const dir = tempDir('tsnix-expr-');
  mkdirSync(join(dir, 'bb'));
  writeFileSync(join(dir, 'bb', 'sh'), '#!/bin/false\n', { mode: 0o755 });
  writeFileSync(
    join(dir, 'graph.nix'),
    `let
       bb = builtins.path { path = ${dir}/bb; name = "bbdir"; };
       mk = a: derivation ({ system = "x86_64-linux"; builder = "\${bb}/sh"; } // a);
     in rec {
       a = mk { name = "a"; outputs = [ "out" "dev" ]; };
       b = mk { name = "b"; dep = a.dev; };
       c = mk { name = "c"; script = builtins.toFile "script.txt" "some text"; deps = [ a b ]; };
     }`,
  );
  const drvs = nixOk('nix-instantiate', ['--store', root, '--option', 'substituters', '', join(dir, 'graph.nix')]);
  return drvs.trim().split('\n');
}

describe('interop with real nix-store', function () {
  let nixStore: string;
  let trees: string;
  before(function () {
    nixStore = requireNix(this);
    requireNix(this, 'nix-instantiate');
    trees = unpackTrees();
  });

  it('tsnix --add and --add-fixed give the paths nix gives, and nix reads, verifies and dumps that store', async () => {
    const tsnixRoot = tempDir();
    const nixRoot = tempDir();
    const added: string[] = [];
    for (const name of TREE_NAMES) {
      const source = join(trees, name);
      const ours = (await tsnixStoreOk(['--store', tsnixRoot, '--add', source])).trim();
      assert.equal(ours, nixOk(nixStore, ['--store', nixRoot, '--add', source]).trim(), `--add ${name}`);
      added.push(ours);
    }
    for (const [flags, source] of [[['sha1'], '01-regular.txt'], [['sha512'], '02-exec.sh'], [['--recursive', 'sha1'], '06-tree'], [['--recursive', 'sha256'], '07-sorting']] as const) {
      const args = ['--add-fixed', ...flags, join(trees, source)];
      const ours = (await tsnixStoreOk(['--store', tsnixRoot, ...args])).trim();
      assert.equal(ours, nixOk(nixStore, ['--store', nixRoot, ...args]).trim(), args.join(' '));
      added.push(ours);
    }
    const imported = (await tsnixStoreOk(['--store', tsnixRoot, '--import'], { input: readFixture('export/a-b.export') })).trim().split('\n');
    assert.deepEqual(imported, ['/nix/store/8awlk6rgzynhczrf7mwqjfk93zbcldl6-a.txt', '/nix/store/wm1yl0adpghzq2zqm62z1i3v1c3hslgv-b.txt']);

    const verify = runNix(nixStore, ['--store', tsnixRoot, '--verify', '--check-contents']);
    assert.equal(verify.status, 0, verify.stderr);
    assert.doesNotMatch(verify.stderr, /modified|disappeared|error/);
    await assertSameQueries(nixStore, tsnixRoot, [...added, ...imported]);
    await assertSameDumps(nixStore, tsnixRoot, [...added, ...imported]);
  });

  it('tsnix reads, verifies and dumps a store that nix wrote, derivations included', async () => {
    const nixRoot = tempDir();
    const drvs = instantiateGraph(nixRoot);
    nixOk(nixStore, ['--store', nixRoot, '--import'], readFixture('export/a-b.export'));
    for (const name of TREE_NAMES) nixOk(nixStore, ['--store', nixRoot, '--add', join(trees, name)]);
    const all = nixOk(nixStore, ['--store', nixRoot, '-qR', ...drvs, '/nix/store/wm1yl0adpghzq2zqm62z1i3v1c3hslgv-b.txt']).trim().split('\n');
    assert.ok(all.length >= 6, all.join(' '));
    const verify = await tsnixStore(['--store', nixRoot, '--verify', '--check-contents']);
    assert.equal(verify.code, 0, verify.stderr);
    assert.doesNotMatch(verify.stderr, /modified|disappeared/);
    await assertSameQueries(nixStore, nixRoot, all);
    await assertSameDumps(nixStore, nixRoot, all);
    for (const drv of drvs) {
      assert.equal(await tsnixStoreOk(['--store', nixRoot, '-q', '-b', 'name', drv]), nixOk(nixStore, ['--store', nixRoot, '-q', '-b', 'name', drv]));
      assert.equal(await tsnixStoreOk(['--store', nixRoot, '-qR', '--include-outputs', drv]), nixOk(nixStore, ['--store', nixRoot, '-qR', '--include-outputs', drv]));
    }
  });

  it('--export of either is byte-identical and --import-ed by the other', async () => {
    const nixRoot = tempDir();
    const drvs = instantiateGraph(nixRoot);
    const closure = nixOk(nixStore, ['--store', nixRoot, '-qR', ...drvs]).trim().split('\n');
    const nixExport = nixBytes(nixStore, ['--store', nixRoot, '--export', ...closure]);
    const ours = await tsnixStore(['--store', nixRoot, '--export', ...closure]);
    assert.equal(ours.code, 0, ours.stderr);
    assert.ok(ours.stdout.equals(nixExport), 'tsnix --export equals nix-store --export byte for byte');

    const tsnixRoot = tempDir();
    const imported = (await tsnixStoreOk(['--store', tsnixRoot, '--import'], { input: nixExport })).trim().split('\n');
    assert.deepEqual([...imported].sort(), [...closure].sort());
    const verify = runNix(nixStore, ['--store', tsnixRoot, '--verify', '--check-contents']);
    assert.equal(verify.status, 0, verify.stderr);
    // Imported .drv files have their outputs recorded, as nix records them.
    const outputsSql = 'select v.path, d.id, d.path from DerivationOutputs d join ValidPaths v on d.drv = v.id order by 1, 2';
    const ourOutputs = nixOk('sqlite3', [join(tsnixRoot, 'nix/var/nix/db/db.sqlite'), outputsSql]);
    assert.equal(ourOutputs, nixOk('sqlite3', [join(nixRoot, 'nix/var/nix/db/db.sqlite'), outputsSql]));
    assert.ok(ourOutputs.split('\n').length > 3, ourOutputs);
    for (const path of closure) {
      for (const q of ['--hash', '--size', '--references', '--deriver']) {
        assert.equal(nixOk(nixStore, ['--store', tsnixRoot, '-q', q, path]), nixOk(nixStore, ['--store', nixRoot, '-q', q, path]), `${q} ${path}`);
      }
    }

    const backToNix = tempDir();
    const again = await tsnixStore(['--store', tsnixRoot, '--export', ...closure]);
    assert.equal(again.code, 0, again.stderr);
    nixOk(nixStore, ['--store', backToNix, '--import'], again.stdout);
    const verifyBack = runNix(nixStore, ['--store', backToNix, '--verify', '--check-contents']);
    assert.equal(verifyBack.status, 0, verifyBack.stderr);
    assert.equal(nixOk(nixStore, ['--store', backToNix, '-qR', ...drvs]), nixOk(nixStore, ['--store', nixRoot, '-qR', ...drvs]));
  });
});

function readFixture(relative: string): Buffer {
  return nixBytes('cat', [fixture(relative)]);
}

describe('--dump to each kind of output, as nix-store --dump', function () {
  let nixStore: string;
  let tree: string;
  before(function () {
    nixStore = requireNix(this);
    tree = join(tempDir(), 'tree');
    mkdirSync(join(tree, 'sub'), { recursive: true });
    // Files past 64 KiB go to the output with sendfile; smaller ones through the chunks.
    writeFileSync(join(tree, 'big'), Buffer.from(Array.from({ length: 3 * 1024 * 1024 + 5 }, (_, i) => (i * 7) % 256)));
    writeFileSync(join(tree, 'sub', 'medium'), Buffer.alloc(70 * 1024, 'm'));
    writeFileSync(join(tree, 'sub', 'small'), 'small');
    writeFileSync(join(tree, 'tool'), '#!/bin/sh\n', { mode: 0o755 });
  });

  it('writes the same bytes to a pipe, a file, and a file opened for appending (where sendfile is refused)', async () => {
    const expected = nixBytes(nixStore, ['--dump', tree]);
    const piped = await tsnixStore(['--dump', tree]);
    assert.equal(piped.code, 0, piped.stderr);
    assert.ok(piped.stdout.equals(expected), 'to a pipe');
    const dir = tempDir();
    for (const [redirect, name] of [['>', 'file'], ['>>', 'appended']] as const) {
      const out = join(dir, name);
      writeFileSync(out, name === 'appended' ? 'before' : '');
      execFileSync('sh', ['-c', `"$0" --dump "$1" ${redirect} "$2"`, TSNIX_STORE, tree, out]);
      const prefix = name === 'appended' ? Buffer.from('before') : Buffer.alloc(0);
      assert.ok(readFileSync(out).equals(Buffer.concat([prefix, expected])), `to a ${name}`);
    }
  });
});
