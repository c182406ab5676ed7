import assert from 'node:assert/strict';
import { PathInUseError, PathNotValidError } from '../../../src/store/dbErrors.js';
import { computeClosure, topoSortPaths } from '../../../src/store/closure.js';
import { queryDerivationOutputs, queryValidDerivers } from '../../../src/store/derivers.js';
import { invalidatePaths } from '../../../src/store/invalidate.js';
import { isValidPath, queryPathInfo, queryValidPaths, requirePathInfo } from '../../../src/store/queryPathInfo.js';
import { queryAllValidPaths, queryPathFromHashPart } from '../../../src/store/queryPaths.js';
import { queryReferences, queryReferrers } from '../../../src/store/references.js';
import { registerValidPaths } from '../../../src/store/registerPaths.js';
import { builtInfo, outputPath, tempStore, vector, type TempStore } from './dbFixtures.js';

/**
 * A small graph:  app -> lib -> libc,  app -> data,  tool -> libc,  libc -> libc (self)
 */
const libc = outputPath('libc');
const lib = outputPath('lib');
const data = outputPath('data');
const app = outputPath('app');
const tool = outputPath('tool');

describe('querying the database', () => {
  let store: TempStore;
  before(async () => {
    store = await tempStore();
    registerValidPaths(store.db, [
      builtInfo(libc, [libc]),
      builtInfo(lib, [libc]),
      builtInfo(data),
      builtInfo(app, [lib, data]),
      builtInfo(tool, [libc]),
      vector.bbdir,
      vector.simpleDrv,
      vector.simple,
    ], new Map([[vector.simpleDrv.path, new Map([['out', vector.simple.path]])]]));
  });
  after(() => store.dispose());

  it('tells valid from invalid paths', () => {
    assert.equal(isValidPath(store.db, app), true);
    assert.equal(isValidPath(store.db, outputPath('nope')), false);
    assert.deepEqual([...queryValidPaths(store.db, [app, outputPath('nope'), tool])].sort(), [app, tool].sort());
  });

  it('reads back what was registered', () => {
    const info = queryPathInfo(store.db, vector.simple.path)!;
    assert.ok(info.narHash.equals(vector.simple.narHash));
    assert.equal(info.narSize, 120);
    assert.equal(info.deriver, vector.simpleDrv.path);
    assert.equal(info.ultimate, true);
    assert.deepEqual(info.sigs, []);
    assert.equal(info.ca, undefined);
    assert.equal(queryPathInfo(store.db, outputPath('nope')), undefined);
    assert.throws(() => requirePathInfo(store.db, outputPath('nope')), PathNotValidError);
  });

  it('reads hashes written in any typed form (nix32, SRI), as Nix does', () => {
    const path = outputPath('odd-hash');
    registerValidPaths(store.db, [builtInfo(path)]);
    const expected = queryPathInfo(store.db, path)!.narHash;
    for (const form of [expected.format('nix32'), expected.toSRI()]) {
      store.db.sqlite.prepare('update ValidPaths set hash = ? where path = ?').run(form, path);
      assert.ok(queryPathInfo(store.db, path)!.narHash.equals(expected), form);
    }
  });

  it('reads an empty deriver, sigs or ca as absent', () => {
    const path = outputPath('empty-strings');
    registerValidPaths(store.db, [builtInfo(path)]);
    store.db.sqlite.prepare("update ValidPaths set deriver = '', sigs = '', ca = '' where path = ?").run(path);
    const info = queryPathInfo(store.db, path)!;
    assert.equal(info.deriver, undefined);
    assert.deepEqual(info.sigs, []);
    assert.equal(info.ca, undefined);
  });

  it('lists references and referrers sorted, self references included', () => {
    assert.deepEqual(queryReferences(store.db, app), [lib, data].sort());
    assert.deepEqual(queryReferrers(store.db, libc), [libc, lib, tool].sort());
    assert.deepEqual(queryPathInfo(store.db, libc)!.references, [libc]);
    assert.throws(() => queryReferences(store.db, outputPath('nope')), /is not valid$/);
  });

  it('computes the closure and the referrers closure', () => {
    assert.deepEqual([...computeClosure(store.db, [app])].sort(), [app, lib, libc, data].sort());
    assert.deepEqual([...computeClosure(store.db, [libc], { reverse: true })].sort(), [libc, lib, tool, app].sort());
    assert.throws(() => computeClosure(store.db, [outputPath('nope')]), PathNotValidError);
  });

  it('sorts paths with every dependency before its referrers', () => {
    const order = topoSortPaths(store.db, computeClosure(store.db, [app, tool]));
    assert.equal(order.length, 5);
    for (const [referrer, reference] of [[app, lib], [app, data], [lib, libc], [tool, libc]] as const) {
      assert.ok(order.indexOf(reference) < order.indexOf(referrer), `${reference} before ${referrer}`);
    }
  });

  it('finds a path from its hash part, and nothing for a neighbour', () => {
    const hashPart = app.slice('/nix/store/'.length, '/nix/store/'.length + 32);
    assert.equal(queryPathFromHashPart(store.db, hashPart), app);
    assert.equal(queryPathFromHashPart(store.db, '00000000000000000000000000000000'), undefined);
    assert.throws(() => queryPathFromHashPart(store.db, 'short'), /invalid hash part/);
  });

  it('lists all valid paths sorted', () => {
    const all = queryAllValidPaths(store.db);
    assert.deepEqual(all, [...all].sort());
    assert.ok(all.includes(app) && all.includes(vector.simple.path));
  });

  it('answers which derivations produce a path and what a derivation produces', () => {
    assert.deepEqual(queryValidDerivers(store.db, vector.simple.path), [vector.simpleDrv.path]);
    assert.deepEqual(queryValidDerivers(store.db, app), []);
    assert.equal(queryDerivationOutputs(store.db, vector.simpleDrv.path).get('out'), vector.simple.path);
    assert.throws(() => queryDerivationOutputs(store.db, outputPath('x.drv')), PathNotValidError);
  });
});

describe('invalidating paths', () => {
  let store: TempStore;
  beforeEach(async () => {
    store = await tempStore();
    registerValidPaths(store.db, [builtInfo(libc, [libc]), builtInfo(lib, [libc]), builtInfo(app, [lib])]);
  });
  afterEach(() => store.dispose());

  it('refuses while another valid path refers to it, naming the referrer, and changes nothing', () => {
    assert.throws(
      () => invalidatePaths(store.db, [libc]),
      (e: Error) => e instanceof PathInUseError && e.message === `cannot delete path '${libc}' because it is in use by '${lib}'`,
    );
    assert.equal(isValidPath(store.db, libc), true);
  });

  it('removes a whole set at once, referrers first, with its references and self references', () => {
    invalidatePaths(store.db, [libc, lib, app]);
    assert.deepEqual(queryAllValidPaths(store.db), []);
    assert.equal(store.db.sqlite.prepare('select count(*) from Refs').pluck().get(), 0);
  });

  it('removes a top-level path and leaves its dependencies valid', () => {
    invalidatePaths(store.db, [app, outputPath('not-valid-anyway')]);
    assert.deepEqual(queryAllValidPaths(store.db), [libc, lib].sort());
    assert.deepEqual(queryReferrers(store.db, lib), []);
  });

  it('drops the recorded outputs of an invalidated derivation', () => {
    registerValidPaths(store.db, [vector.bbdir, vector.simpleDrv], new Map([[vector.simpleDrv.path, new Map([['out', vector.simple.path]])]]));
    invalidatePaths(store.db, [vector.simpleDrv.path]);
    assert.equal(store.db.sqlite.prepare('select count(*) from DerivationOutputs').pluck().get(), 0);
  });
});
