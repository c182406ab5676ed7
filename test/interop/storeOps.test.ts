/**
 * Store operations side by side with real nix-store 2.8: the same input on two equal stores
 * (one per tool, since these operations change the store) gives the same output, the same
 * exit code and the same database rows.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { encodeExportTrailer, EXPORT_END, EXPORT_NEXT } from '../../src/format/exportFormat.js';
import { encodeString } from '../../src/format/wire.js';
import { TSNIX_STORE, tempDir, tsnixStore, tsnixStoreOk } from '../support/cli.js';
import { fixture } from '../support/fixtures.js';
import { nixOk, requireNix, runNix } from '../support/nix.js';
import { unpackTrees } from '../support/trees.js';

const A_TXT = '/nix/store/8awlk6rgzynhczrf7mwqjfk93zbcldl6-a.txt';
const B_TXT = '/nix/store/wm1yl0adpghzq2zqm62z1i3v1c3hslgv-b.txt';

/** Input-addressed paths made up for hand-built export streams (import does not check their hash part). */
const P = '/nix/store/11111111111111111111111111111111-p';
const R = '/nix/store/22222222222222222222222222222222-r';
const V = '/nix/store/33333333333333333333333333333333-v';
const SELF = '/nix/store/44444444444444444444444444444444-self';

function fileNar(contents: string): Buffer {
  return Buffer.concat(['nix-archive-1', '(', 'type', 'regular', 'contents', contents, ')'].map((t) => encodeString(t)));
}

/** One export entry whose file names its own path and its references, so a scan would find them. */
function exportEntry(path: string, references: string[]): Buffer {
  return Buffer.concat([EXPORT_NEXT, fileNar(`${path} refers to ${references.join(' ')}\n`), encodeExportTrailer({ path, references, deriver: '' })]);
}

function exportStream(...entries: Buffer[]): Buffer {
  return Buffer.concat([...entries, EXPORT_END]);
}

/** P, then SELF which refers to itself and to P. */
const SELF_STREAM = exportStream(exportEntry(P, []), exportEntry(SELF, [SELF, P]));
/** V -> R -> P. */
const CHAIN_STREAM = exportStream(exportEntry(P, []), exportEntry(R, [P]), exportEntry(V, [R]));

function sql(root: string, query: string): string {
  return execFileSync('sqlite3', [join(root, 'nix/var/nix/db/db.sqlite'), query], { encoding: 'utf8' });
}

function validPaths(root: string): string {
  return sql(root, 'select path from ValidPaths order by path');
}

/** stderr as lines, without the usage hint whose program name differs. */
function lines(stderr: string): string[] {
  return stderr
    .trimEnd()
    .split('\n')
    .filter((l) => l !== '' && !l.startsWith('Try '));
}

/** Replaces a store file's contents behind the database's back, as a user with root might. */
function overwrite(root: string, path: string, contents: string): void {
  chmodSync(join(root, path), 0o644);
  writeFileSync(join(root, path), contents);
}

function removeStorePath(root: string, path: string): void {
  execFileSync('chmod', ['-R', 'u+w', join(root, path)]);
  rmSync(join(root, path), { recursive: true });
}

/** Two stores built by real nix-store from the same sources; returns their roots and what `--add` printed. */
function twoStoresByNix(nixStore: string, build: (root: string) => string): { nixRoot: string; tsnixRoot: string; added: string } {
  const nixRoot = tempDir('tsnix-ops-nix-');
  const tsnixRoot = tempDir('tsnix-ops-ts-');
  const added = build(nixRoot);
  assert.equal(build(tsnixRoot), added, 'both stores are built alike');
  return { nixRoot, tsnixRoot, added };
}

describe('store operations agree with nix-store', function () {
  let nixStore: string;
  let sources: string;

  before(function () {
    nixStore = requireNix(this);
    sources = tempDir('tsnix-ops-src-');
    writeFileSync(join(sources, 'one'), 'one\n');
    writeFileSync(join(sources, 'two'), 'two\n');
    writeFileSync(join(sources, 'mod'), 'to be modified\n');
  });

  describe('--add and --add-fixed', () => {
    it('write the same ValidPaths rows as nix-store for the same sources', async () => {
      const trees = unpackTrees();
      const file = join(trees, '01-regular.txt');
      const tree = join(trees, '06-tree');
      const steps: string[][] = [
        ['--add', file, tree, join(trees, '03-symlink')],
        ['--add-fixed', 'sha1', file],
        ['--add-fixed', '--recursive', 'sha1', tree],
        ['--add-fixed', 'sha256', file],
        ['--add-fixed', '--recursive', 'sha256', tree],
      ];
      const nixRoot = tempDir();
      const tsnixRoot = tempDir();
      for (const step of steps) {
        const expected = nixOk(nixStore, ['--store', nixRoot, ...step]);
        assert.equal(await tsnixStoreOk(['--store', tsnixRoot, ...step]), expected, step.join(' '));
      }
      const rows = 'select path, hash, narSize, deriver, ultimate, sigs, ca from ValidPaths order by path';
      assert.equal(sql(tsnixRoot, rows), sql(nixRoot, rows));
      assert.notEqual(sql(tsnixRoot, rows), '');
    });
  });

  describe('--verify', () => {
    /** a.txt <- b.txt from the vector, plus one, two, mod; then mod modified, one and a.txt removed. */
    function damagedStores(): { nixRoot: string; tsnixRoot: string; one: string; mod: string } {
      const { nixRoot, tsnixRoot, added } = twoStoresByNix(nixStore, (root) => {
        nixOk(nixStore, ['--store', root, '--import'], readFileSync(fixture('export/a-b.export')));
        return nixOk(nixStore, ['--store', root, '--add', join(sources, 'one'), join(sources, 'two'), join(sources, 'mod')]);
      });
      const [one, , mod] = added.trim().split('\n') as [string, string, string];
      for (const root of [nixRoot, tsnixRoot]) {
        overwrite(root, mod, 'changed\n');
        removeStorePath(root, one);
        removeStorePath(root, A_TXT);
      }
      return { nixRoot, tsnixRoot, one, mod };
    }

    it('--check-contents reports a modified path, a vanished path and a vanished path with referrers as nix-store does', async () => {
      const { nixRoot, tsnixRoot, one, mod } = damagedStores();
      const expected = runNix(nixStore, ['--store', nixRoot, '--verify', '--check-contents']);
      // What nix says, so a change in nix's wording shows here first.
      assert.ok(lines(expected.stderr).includes(`path '${one}' disappeared, removing from database...`), expected.stderr);
      assert.ok(lines(expected.stderr).includes(`path '${A_TXT}' disappeared, but it still has valid referrers!`), expected.stderr);
      assert.ok(lines(expected.stderr).some((l) => l.startsWith(`path '${mod}' was modified! expected hash 'sha256:`)), expected.stderr);
      assert.equal(lines(expected.stderr).at(-1), 'warning: not all store errors were fixed');

      const actual = await tsnixStore(['--store', tsnixRoot, '--verify', '--check-contents']);
      assert.deepEqual(lines(actual.stderr), lines(expected.stderr));
      assert.equal(actual.code, expected.status);
      assert.equal(validPaths(tsnixRoot), validPaths(nixRoot), 'the same paths stay valid');

      // A second run finds what is left: the vanished path with referrers and the modified one.
      const expectedAgain = runNix(nixStore, ['--store', nixRoot, '--verify', '--check-contents']);
      const actualAgain = await tsnixStore(['--store', tsnixRoot, '--verify', '--check-contents']);
      assert.deepEqual(lines(actualAgain.stderr), lines(expectedAgain.stderr));
      assert.equal(actualAgain.code, expectedAgain.status);
    });

    it('without --check-contents reports the vanished paths as nix-store does and leaves the modified one alone', async () => {
      const { nixRoot, tsnixRoot } = damagedStores();
      const expected = runNix(nixStore, ['--store', nixRoot, '--verify']);
      const actual = await tsnixStore(['--store', tsnixRoot, '--verify']);
      assert.deepEqual(lines(actual.stderr), lines(expected.stderr));
      assert.equal(actual.code, expected.status);
      assert.equal(validPaths(tsnixRoot), validPaths(nixRoot));
    });

    it('a vanished chain V -> R -> P with V present completes: R and P stay valid together, no crash', async () => {
      // nix-store 2.8 itself stops here with "error: executing SQLite statement 'delete from
      // ValidPaths where path = '.../p';': constraint failed": it removes P while R, which
      // refers to P, stays. tsnix must finish the check instead.
      const root = tempDir();
      await tsnixStoreOk(['--store', root, '--import'], { input: CHAIN_STREAM });
      removeStorePath(root, P);
      removeStorePath(root, R);
      const r = await tsnixStore(['--store', root, '--verify', '--check-contents']);
      const got = lines(r.stderr);
      assert.equal(got.filter((l) => l.startsWith('error:')).length, 0, r.stderr);
      assert.ok(got.includes(`path '${R}' disappeared, but it still has valid referrers!`), r.stderr);
      assert.ok(got.includes(`path '${P}' disappeared, but it still has valid referrers!`), r.stderr);
      assert.ok(got.includes('checking store hashes...'), `the check went on to the end:\n${r.stderr}`);
      assert.equal(got.at(-1), 'warning: not all store errors were fixed');
      assert.equal(r.code, 1);
      const valid = (await tsnixStore(['--store', root, '--check-validity', '--print-invalid', P, R, V])).stdout.toString();
      assert.equal(valid, '', 'V still refers to R, R to P: all three stay valid');
      // The database still holds together: nix can read it and finds the same.
      const again = runNix(nixStore, ['--store', root, '--check-validity', '--print-invalid', P, R, V]);
      assert.equal(again.stdout, '');
    });
  });

  describe('--verify-path', () => {
    it('fails for a modified path with nix-store\'s message and passes for an unmodified one', async () => {
      const { nixRoot, tsnixRoot, added } = twoStoresByNix(nixStore, (root) =>
        nixOk(nixStore, ['--store', root, '--add', join(sources, 'mod'), join(sources, 'two')]),
      );
      const [mod, two] = added.trim().split('\n') as [string, string];
      for (const root of [nixRoot, tsnixRoot]) overwrite(root, mod, 'changed\n');
      for (const args of [[mod], [two], [mod, two]]) {
        const expected = runNix(nixStore, ['--store', nixRoot, '--verify-path', ...args]);
        const actual = await tsnixStore(['--store', tsnixRoot, '--verify-path', ...args]);
        assert.equal(actual.code, expected.status, args.join(' '));
        assert.deepEqual(lines(actual.stderr), lines(expected.stderr), args.join(' '));
        assert.equal(actual.stdout.toString(), expected.stdout);
      }
    });
  });

  describe('--print-fixed-path', () => {
    const SHA256 = '5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03';
    const SHA1 = 'iwjz551fyw0cxcjgf4l6c879zabd6wpm';
    const cases: string[][] = [
      ['sha256', SHA256, 'foo'],
      ['--recursive', 'sha256', SHA256, 'foo'],
      ['sha1', SHA1, '1e2'],
      ['sha256', SHA256, '1e2'],
      ['sha256', SHA256, '0x10'],
      ['--recursive', 'sha1', SHA1, '0x10'],
      ['sha256', SHA256, '010'],
      ['sha256', SHA256, '1_000'],
      // A base-16 hash made only of digits looks like a (huge) number too.
      ['sha1', '1234567890123456789012345678901234567890', 'digits'],
      ['--recursive', 'sha1', '1234567890123456789012345678901234567890', '12345'],
    ];
    for (const args of cases) {
      it(`prints what nix-store prints for ${args.join(' ')}`, async () => {
        const expected = nixOk(nixStore, ['--print-fixed-path', ...args]);
        assert.equal(await tsnixStoreOk(['--print-fixed-path', ...args]), expected);
      });
    }
  });

  describe('a path that refers to itself', () => {
    const queries = ['--tree', '--requisites', '--references', '--referrers', '--referrers-closure', '--graph'];
    for (const query of queries) {
      it(`-q ${query} prints what nix-store prints`, async () => {
        const nixRoot = tempDir();
        const tsnixRoot = tempDir();
        const imported = nixOk(nixStore, ['--store', nixRoot, '--import'], SELF_STREAM);
        assert.equal(await tsnixStoreOk(['--store', tsnixRoot, '--import'], { input: SELF_STREAM }), imported);
        for (const args of [[SELF], [P], [SELF, P]]) {
          const expected = nixOk(nixStore, ['--store', nixRoot, '-q', query, ...args]);
          assert.equal(await tsnixStoreOk(['--store', tsnixRoot, '-q', query, ...args]), expected, `-q ${query} ${args.join(' ')}`);
        }
      });
    }
  });

  describe('--export', () => {
    // 'to be modified\n' was added: once with other contents of another size, once of the same size.
    for (const contents of ['changed\n', 'TO BE MODIFIED\n']) {
      it(`of a path modified after registration (${JSON.stringify(contents)}) fails with nix-store's message`, async () => {
        const { nixRoot, tsnixRoot, added } = twoStoresByNix(nixStore, (root) => nixOk(nixStore, ['--store', root, '--add', join(sources, 'mod')]));
        const mod = added.trim();
        for (const root of [nixRoot, tsnixRoot]) overwrite(root, mod, contents);
        const expected = runNix(nixStore, ['--store', nixRoot, '--export', mod]);
        assert.equal(expected.status, 1);
        assert.match(lines(expected.stderr)[0]!, new RegExp(`^error: hash of path '${mod}' has changed from 'sha256:[0-9a-z]{52}' to 'sha256:[0-9a-z]{52}'!$`));
        const actual = await tsnixStore(['--store', tsnixRoot, '--export', mod]);
        assert.equal(actual.code, 1);
        assert.deepEqual(lines(actual.stderr), lines(expected.stderr));
      });
    }
  });

  describe('--store with a relative root', () => {
    for (const relative of ['./rel/root', 'rel/root']) {
      it(`--store ${relative} is a root below the working directory, as in nix-store`, () => {
        const cwdNix = tempDir();
        const cwdTsnix = tempDir();
        const file = join(sources, 'one');
        const expected = spawnSync(nixStore, ['--store', relative, '--add', file], {
          cwd: cwdNix,
          encoding: 'utf8',
          env: { ...process.env, NIX_CONF_DIR: '/nonexistent', NIX_REMOTE: '' },
        });
        assert.equal(expected.status, 0, expected.stderr);
        const actual = spawnSync(TSNIX_STORE, ['--store', relative, '--add', file], {
          cwd: cwdTsnix,
          encoding: 'utf8',
          env: { ...process.env, TSNIX_CONF_DIR: '/nonexistent' },
        });
        assert.equal(actual.status, 0, actual.stderr);
        assert.equal(actual.stdout, expected.stdout);
        const path = expected.stdout.trim();
        assert.ok(existsSync(join(cwdTsnix, 'rel/root', path)), 'the content is under the relative root');
        assert.equal(validPaths(join(cwdTsnix, 'rel/root')), `${path}\n`);
        // nix reads what tsnix wrote there.
        nixOk(nixStore, ['--store', join(cwdTsnix, 'rel/root'), '--verify-path', path]);
      });
    }
  });

  describe('settings and arguments', () => {
    for (const value of ['yes', 'no', '1', '0', 'true', 'false']) {
      it(`--option keep-going ${value} is accepted as nix-store accepts it`, async () => {
        const nixRoot = tempDir();
        const tsnixRoot = tempDir();
        const args = ['--option', 'keep-going', value, '--add', join(sources, 'one')];
        const expected = runNix(nixStore, ['--store', nixRoot, ...args]);
        assert.equal(expected.status, 0, expected.stderr);
        assert.equal(expected.stderr, '');
        const actual = await tsnixStore(['--store', tsnixRoot, ...args]);
        assert.equal(actual.stderr, '');
        assert.equal(actual.code, 0);
        assert.equal(actual.stdout.toString(), expected.stdout);
      });
    }

    for (const args of [['--import', 'extra-arg'], ['--verify', 'foo']]) {
      it(`${args.join(' ')} is refused as nix-store refuses it, before touching the store`, async () => {
        const nixRoot = tempDir();
        const tsnixRoot = tempDir();
        const input = readFileSync(fixture('export/a-b.export'));
        const expected = runNix(nixStore, ['--store', nixRoot, ...args], input);
        assert.equal(expected.status, 1);
        assert.deepEqual(lines(expected.stderr), ['error: no arguments expected']);
        const actual = await tsnixStore(['--store', tsnixRoot, ...args], { input });
        assert.equal(actual.code, 1);
        assert.deepEqual(lines(actual.stderr), ['error: no arguments expected']);
        assert.equal(actual.stdout.toString(), '');
        const invalid = await tsnixStore(['--store', tsnixRoot, '--check-validity', '--print-invalid', A_TXT, B_TXT]);
        assert.equal(invalid.stdout.toString(), `${A_TXT}\n${B_TXT}\n`, 'nothing was imported');
      });
    }
  });

  describe('--import of two export streams one after the other', () => {
    it('imports the first stream and ignores what follows its end marker, as nix-store does', async () => {
      const nixRoot = tempDir();
      const tsnixRoot = tempDir();
      const input = Buffer.concat([SELF_STREAM, CHAIN_STREAM]);
      const expected = runNix(nixStore, ['--store', nixRoot, '--import'], input);
      assert.equal(expected.status, 0, expected.stderr);
      assert.equal(expected.stdout, `${P}\n${SELF}\n`, 'nix stops at the first end marker');
      const actual = await tsnixStore(['--store', tsnixRoot, '--import'], { input });
      assert.equal(actual.stderr, expected.stderr);
      assert.equal(actual.code, 0);
      assert.equal(actual.stdout.toString(), expected.stdout);
      assert.equal(validPaths(tsnixRoot), validPaths(nixRoot));
    });
  });
});
