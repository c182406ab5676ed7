/**
 * The database against real Nix 2.8: a store we create and fill is read and verified by
 * `nix-store`, and a store `nix-store` wrote gives our queries the answers nix gives.
 */
import assert from 'node:assert/strict';
import { chmodSync, copyFileSync, mkdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { Hash, hashBytes } from '../../src/format/hash.js';
import { makeFixedOutputPath, makeStorePath, makeTextPath } from '../../src/format/storePath.js';
import { computeClosure, topoSortPaths } from '../../src/store/closure.js';
import { openStoreDatabase, type StoreDatabase } from '../../src/store/database.js';
import { StoreLayout } from '../../src/store/layout.js';
import { makePathInfo, type ValidPathInfo } from '../../src/store/pathInfo.js';
import { queryPathInfo } from '../../src/store/queryPathInfo.js';
import { queryAllValidPaths } from '../../src/store/queryPaths.js';
import { queryReferrers } from '../../src/store/references.js';
import { registerValidPaths } from '../../src/store/registerPaths.js';
import { encodeString, encodeU64 } from '../../src/format/wire.js';
import { fixture } from '../support/fixtures.js';
import { findNixProgram, nixBytes, nixOk, requireNix, runNix } from '../support/nix.js';
import { tempRoot } from '../unit/store/dbFixtures.js';

/** Puts `source` (a file or a directory of files) at its store path, canonicalised. */
function placeInStore(layout: StoreLayout, storePath: string, files: Record<string, string> | string): void {
  const real = layout.toReal(storePath);
  if (typeof files === 'string') {
    writeFileSync(real, files);
    chmodSync(real, 0o444);
  } else {
    mkdirSync(real);
    for (const [name, text] of Object.entries(files)) {
      writeFileSync(join(real, name), text);
      chmodSync(join(real, name), 0o444);
      utimesSync(join(real, name), 1, 1);
    }
    chmodSync(real, 0o555);
  }
  utimesSync(real, 1, 1);
}

/** NAR hash and size of a physical path, as real nix serialises it. */
function narOf(nixStore: string, real: string): { narHash: Hash; narSize: number } {
  const nar = nixBytes(nixStore, ['--dump', real]);
  return { narHash: hashBytes('sha256', nar), narSize: nar.length };
}

function lines(text: string): string[] {
  return text.split('\n').filter((l) => l.length > 0);
}

describe('interop: a database tsnix writes, read by nix-store 2.8', function () {
  this.timeout(60000);
  let nixStore: string;
  let root: string;
  let layout: StoreLayout;
  let db: StoreDatabase;
  let a: ValidPathInfo;
  let b: ValidPathInfo;
  let c: ValidPathInfo;
  let e: ValidPathInfo;
  const q = (...args: string[]): string => nixOk(nixStore, ['--store', root, ...args]);

  before(async function () {
    nixStore = requireNix(this);
    root = tempRoot();
    layout = new StoreLayout({ root });
    db = await openStoreDatabase(layout);

    // a: a source path, as `nix-store --add` would make it.
    const staging = join(root, 'staging-a.txt');
    writeFileSync(staging, 'hello from tsnix\n');
    const aNar = narOf(nixStore, staging);
    const aPath = makeFixedOutputPath('recursive', aNar.narHash, 'a.txt');
    placeInStore(layout, aPath, 'hello from tsnix\n');
    a = makePathInfo({ path: aPath, ...narOf(nixStore, layout.toReal(aPath)), ca: `fixed:r:sha256:${aNar.narHash.toNix32()}` });

    // b: a text path (like builtins.toFile) that refers to a.
    const bText = `see ${aPath}\n`;
    const bHash = hashBytes('sha256', bText);
    const bPath = makeTextPath('b.txt', bHash, [aPath]);
    placeInStore(layout, bPath, bText);
    b = makePathInfo({ path: bPath, ...narOf(nixStore, layout.toReal(bPath)), references: [aPath], ca: `text:sha256:${bHash.toNix32()}` });

    // c: a built output with a deriver, referring to b and to itself.
    const cPath = makeStorePath('output:out', hashBytes('sha256', 'tsnix interop c'), 'c-out');
    const drvPath = makeStorePath('text', hashBytes('sha256', 'tsnix interop c.drv'), 'c-out.drv');
    placeInStore(layout, cPath, { refs: `${bPath}\n${cPath}\n` });
    c = makePathInfo({
      path: cPath,
      ...narOf(nixStore, layout.toReal(cPath)),
      references: [bPath, cPath].sort(),
      deriver: drvPath,
      ultimate: true,
      sigs: ['cache.example.org-1:c2lnbmF0dXJl'],
    });

    // e and its siblings: a closure whose order depends on how the graph is walked.
    const siblings = ['x1', 'x2', 'x3'].map((name) => {
      const path = makeStorePath('output:out', hashBytes('sha256', `tsnix interop ${name}`), name);
      placeInStore(layout, path, name);
      return makePathInfo({ path, ...narOf(nixStore, layout.toReal(path)) });
    });
    const ePath = makeStorePath('output:out', hashBytes('sha256', 'tsnix interop e'), 'e');
    placeInStore(layout, ePath, 'e');
    e = makePathInfo({ path: ePath, ...narOf(nixStore, layout.toReal(ePath)), references: [a.path, c.path, ...siblings.map((s) => s.path)].sort() });

    registerValidPaths(db, [c, b, a, e, ...siblings]);
  });

  after(() => {
    db?.close();
    if (root) rmSync(root, { recursive: true, force: true });
  });

  it('sqlite3 .schema of our database is byte for byte that of one nix created', function () {
    const sqlite3 = findNixProgram('sqlite3');
    if (sqlite3 === undefined) this.skip();
    const nixRoot = tempRoot();
    try {
      const file = join(nixRoot, 'f');
      writeFileSync(file, 'f');
      nixOk(nixStore, ['--store', nixRoot, '--add', file]);
      const schemaOf = (r: string): string => nixOk(sqlite3, [join(r, 'nix/var/nix/db/db.sqlite'), '.schema']);
      assert.equal(schemaOf(root), schemaOf(nixRoot));
      assert.equal(schemaOf(root), readFileSync(fixture('db/schema.sql'), 'utf8'));
    } finally {
      rmSync(nixRoot, { recursive: true, force: true });
    }
  });

  it('nix-store --store ROOT -q --references lists what we registered', () => {
    assert.deepEqual(lines(q('-q', '--references', c.path)).sort(), [b.path, c.path].sort());
    assert.deepEqual(lines(q('-q', '--references', b.path)), [a.path]);
    assert.deepEqual(lines(q('-q', '--references', a.path)), []);
  });

  it('nix-store -q --referrers agrees with ours', () => {
    assert.deepEqual(lines(q('-q', '--referrers', a.path)).sort(), [b.path, e.path].sort());
    for (const info of [a, b, c]) assert.deepEqual(lines(q('-q', '--referrers', info.path)).sort(), queryReferrers(db, info.path));
  });

  it('nix-store -q --hash and --size print the NAR hash and size we stored', () => {
    for (const info of [a, b, c]) {
      assert.equal(q('-q', '--hash', info.path).trim(), info.narHash.format('nix32'));
      assert.equal(q('-q', '--size', info.path).trim(), String(info.narSize));
    }
  });

  it('nix-store -q --deriver prints the deriver, and unknown-deriver for a source', () => {
    assert.equal(q('-q', '--deriver', c.path).trim(), c.deriver);
    assert.equal(q('-q', '--deriver', a.path).trim(), 'unknown-deriver');
  });

  it('nix-store -q --requisites prints the closure in the order our topological sort gives', () => {
    for (const info of [c, e]) {
      assert.deepEqual(lines(q('-q', '--requisites', info.path)), topoSortPaths(db, computeClosure(db, [info.path])));
    }
    assert.equal(computeClosure(db, [e.path]).size, 7);
  });

  it('nix-store --verify --check-contents finds nothing wrong', () => {
    const result = runNix(nixStore, ['--store', root, '--verify', '--check-contents']);
    assert.equal(result.status, 0, result.stderr);
    assert.doesNotMatch(result.stderr, /error|warning|modified|invalid/i);
  });

  it('nix-store --verify --check-contents notices a file that no longer matches our NAR hash', () => {
    const real = layout.toReal(a.path);
    chmodSync(real, 0o644);
    writeFileSync(real, 'HELLO from tsnix\n');
    try {
      const result = runNix(nixStore, ['--store', root, '--verify', '--check-contents']);
      assert.notEqual(result.status, 0);
      assert.match(result.stderr, new RegExp(`path '${a.path}' was modified! expected hash '${a.narHash.format('nix32')}'`));
    } finally {
      writeFileSync(real, 'hello from tsnix\n');
      chmodSync(real, 0o444);
      utimesSync(real, 1, 1);
    }
  });

  it('nix can add to a store we created, and we read what it wrote', () => {
    const file = join(root, 'staging-d.txt');
    writeFileSync(file, 'added by nix\n');
    const dPath = q('--add', file).trim();
    const info = queryPathInfo(db, dPath);
    assert.ok(info, `${dPath} is valid for us`);
    assert.equal(info.narHash.format('nix32'), q('-q', '--hash', dPath).trim());
  });
});

describe('interop: a database nix-store 2.8 writes, read by tsnix', function () {
  this.timeout(60000);
  let nixStore: string;
  let root: string;
  let db: StoreDatabase;
  const q = (...args: string[]): string => nixOk(nixStore, ['--store', root, ...args]);

  before(async function () {
    nixStore = requireNix(this);
    root = tempRoot();
    const file = join(root, 'source.txt');
    writeFileSync(file, 'a source nix added\n');
    q('--add', file);
    const dir = join(root, 'tree');
    mkdirSync(join(dir, 'sub'), { recursive: true });
    writeFileSync(join(dir, 'sub/x'), 'x');
    copyFileSync(file, join(dir, 'copy'));
    q('--add', dir);
    // with-ref.export refers to `simple` (a file "hello\n"): let nix import it first from an
    // export stream made by hand (one path, its NAR, no references, its deriver, no signature).
    const hello = join(root, 'hello');
    writeFileSync(hello, 'hello\n');
    const simpleExport = Buffer.concat([
      encodeU64(1),
      nixBytes(nixStore, ['--dump', hello]),
      encodeU64(0x4558494e),
      encodeString('/nix/store/dzlyqx2ian7g7d3q7c82f62y9gabffbn-simple'),
      encodeU64(0),
      encodeString('/nix/store/3ka20g6nw09f7rs8lzqydz5yfj5vdx8n-simple.drv'),
      encodeU64(0),
      encodeU64(0),
    ]);
    const imported = runNix(nixStore, ['--store', root, '--option', 'require-sigs', 'false', '--import'], simpleExport);
    assert.equal(imported.status, 0, imported.stderr);
    for (const name of ['with-ref.export', 'a-b.export']) {
      const result = spawnSync(nixStore, ['--store', root, '--option', 'require-sigs', 'false', '--import'], {
        input: nixBytes('cat', [fixture(`export/${name}`)]),
        env: { ...process.env, NIX_CONF_DIR: '/nonexistent', NIX_REMOTE: '' },
      });
      assert.equal(result.status, 0, `import ${name}: ${result.stderr}`);
    }
    db = await openStoreDatabase(new StoreLayout({ root }), { create: false });
  });

  after(() => {
    db?.close();
    if (root) rmSync(root, { recursive: true, force: true });
  });

  /** nix-store --dump-db: path, base16 hash, size, deriver, reference count, references. */
  function dumpDb(): Map<string, { hash: string; size: number; deriver: string; references: string[] }> {
    const out = lines(q('--dump-db').replace(/\n\n/g, '\n-\n'));
    const rows = new Map<string, { hash: string; size: number; deriver: string; references: string[] }>();
    for (let i = 0; i < out.length; ) {
      const path = out[i++]!;
      const hash = out[i++]!;
      const size = Number(out[i++]);
      const deriver = out[i] === '-' ? '' : out[i]!;
      i++;
      const count = Number(out[i++]);
      rows.set(path, { hash, size, deriver, references: out.slice(i, i + count).sort() });
      i += count;
    }
    return rows;
  }

  it('lists the same valid paths as nix-store --dump-db', () => {
    const nixRows = dumpDb();
    assert.ok(nixRows.size >= 5, `nix registered ${nixRows.size} paths`);
    assert.deepEqual(queryAllValidPaths(db), [...nixRows.keys()].sort());
  });

  it('reads the same hash, size, deriver and references nix reports for every path', () => {
    for (const [path, row] of dumpDb()) {
      const info = queryPathInfo(db, path)!;
      assert.equal(info.narHash.toBase16(), row.hash, path);
      assert.equal(info.narSize, row.size, path);
      assert.equal(info.deriver ?? '', row.deriver, path);
      assert.deepEqual(info.references, row.references, path);
      assert.equal(info.narHash.format('nix32'), q('-q', '--hash', path).trim());
    }
  });

  it('finds the same referrers and closures, in the same order, as nix-store -q', () => {
    for (const path of queryAllValidPaths(db)) {
      assert.deepEqual(queryReferrers(db, path), lines(q('-q', '--referrers', path)).sort(), path);
      assert.deepEqual(topoSortPaths(db, computeClosure(db, [path])), lines(q('-q', '--requisites', path)), path);
      assert.deepEqual(
        [...computeClosure(db, [path], { reverse: true })].sort(),
        lines(q('-q', '--referrers-closure', path)).sort(),
        path,
      );
    }
  });

  it('reads the content addresses nix wrote and they verify against the paths', () => {
    const added = queryAllValidPaths(db).filter((p) => p.endsWith('-source.txt') || p.endsWith('-tree'));
    assert.equal(added.length, 2);
    for (const path of added) assert.match(queryPathInfo(db, path)!.ca ?? '', /^fixed:r:sha256:[0-9a-z]{52}$/);
    // Registering them again (same data) passes our content-address check.
    registerValidPaths(db, added.map((p) => queryPathInfo(db, p)!));
  });
});
