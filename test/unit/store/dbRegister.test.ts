import assert from 'node:assert/strict';
import { Hash, hashBytes } from '../../../src/format/hash.js';
import { RegistrationError, ReferenceCycleError } from '../../../src/store/dbErrors.js';
import { queryDerivationOutputs, queryValidDerivers } from '../../../src/store/derivers.js';
import { isValidPath, queryPathInfo } from '../../../src/store/queryPathInfo.js';
import { queryReferences } from '../../../src/store/references.js';
import { registerValidPaths } from '../../../src/store/registerPaths.js';
import { builtInfo, outputPath, tempStore, vector, type TempStore } from './dbFixtures.js';

function rowOf(store: TempStore, path: string): Record<string, unknown> {
  return store.db.sqlite
    .prepare(
      'select hash, registrationTime, deriver, narSize, ultimate, sigs, ca, typeof(deriver) d, typeof(narSize) n, typeof(ultimate) u, typeof(sigs) s, typeof(ca) c from ValidPaths where path = ?',
    )
    .get(path) as Record<string, unknown>;
}

function counts(store: TempStore): number[] {
  return ['ValidPaths', 'Refs', 'DerivationOutputs'].map(
    (t) => store.db.sqlite.prepare(`select count(*) from ${t}`).pluck().get() as number,
  );
}

describe('registering valid paths', () => {
  let store: TempStore;
  beforeEach(async () => {
    store = await tempStore();
  });
  afterEach(() => store.dispose());

  it('writes a source path with the column types nix-store --add gives', () => {
    registerValidPaths(store.db, [vector.regular]);
    const row = rowOf(store, vector.regular.path);
    assert.equal(row.hash, 'sha256:82acb7081ceb4f8df60a5b66d6c4f1bd182173fbf0453f9900c053b359d2d2c2');
    assert.deepEqual([row.d, row.n, row.u, row.s, row.c], ['null', 'integer', 'null', 'null', 'text']);
    assert.equal(row.ca, vector.regular.ca);
  });

  it('writes a built output with its deriver and ultimate = 1, as nix does', () => {
    registerValidPaths(store.db, [vector.simple]);
    const row = rowOf(store, vector.simple.path);
    assert.deepEqual([row.d, row.n, row.u, row.s, row.c], ['text', 'integer', 'integer', 'null', 'null']);
    assert.equal(row.deriver, vector.simple.deriver);
    assert.equal(row.ultimate, 1);
    assert.equal(row.registrationTime, 1795371942);
  });

  it('stores the hash in base16 whatever form it came in, and registration time 0 as now', () => {
    const path = outputPath('nix32-hash');
    const narHash = Hash.parse('sha256:1hnjs9cv6ly002ckyighzdrj265xy72dcrjv1bv8skzb3h4bgb42');
    const before = Math.floor(Date.now() / 1000);
    registerValidPaths(store.db, [builtInfo(path, [], { narHash, sigs: ['k1:AAA=', 'k2:BBB='], narSize: 0 })]);
    const row = rowOf(store, path);
    assert.equal(row.hash, `sha256:${narHash.toBase16()}`);
    assert.ok((row.registrationTime as number) >= before);
    assert.equal(row.sigs, 'k1:AAA= k2:BBB=');
    assert.equal(row.narSize, null, 'an unknown (0) NAR size is stored as NULL');
    assert.equal(queryPathInfo(store.db, path)!.narSize, 0);
  });

  it('accepts references to paths earlier in the same batch regardless of order', () => {
    registerValidPaths(store.db, [vector.bTxt, vector.aTxt]);
    assert.deepEqual(queryReferences(store.db, vector.bTxt.path), [vector.aTxt.path]);
  });

  it('stores a self reference', () => {
    const path = outputPath('selfish');
    registerValidPaths(store.db, [builtInfo(path, [path])]);
    assert.deepEqual(queryReferences(store.db, path), [path]);
  });

  it('changes nothing when a reference is neither valid nor in the batch', () => {
    registerValidPaths(store.db, [vector.regular]);
    const before = counts(store);
    const ok = outputPath('fine');
    const missing = outputPath('missing');
    const bad = builtInfo(outputPath('bad'), [ok, missing]);
    assert.throws(
      () => registerValidPaths(store.db, [builtInfo(ok), bad]),
      (e: Error) =>
        e instanceof RegistrationError &&
        e.message === `cannot register path '${bad.path}': its reference '${missing}' is not valid and not part of the same registration`,
    );
    assert.deepEqual(counts(store), before);
    assert.equal(isValidPath(store.db, ok), false);
  });

  it('refuses a path whose content address does not give its path, with Nix\'s message', () => {
    const wrong = { ...vector.regular, ca: vector.aTxt.ca };
    assert.throws(
      () => registerValidPaths(store.db, [wrong]),
      new RegistrationError(
        `cannot add path '${vector.regular.path}' to the Nix store because it claims to be content-addressed but isn't`,
      ),
    );
    assert.deepEqual(counts(store), [0, 0, 0]);
  });

  it('checks a text content address together with its references', () => {
    assert.throws(() => registerValidPaths(store.db, [{ ...vector.bTxt, references: [] }]), /claims to be content-addressed/);
    registerValidPaths(store.db, [vector.aTxt, vector.bTxt]);
  });

  it('refuses a NAR hash that is not sha256', () => {
    const info = builtInfo(outputPath('md5'), [], { narHash: hashBytes('md5', 'x') });
    assert.throws(() => registerValidPaths(store.db, [info]), /NAR hash must be sha256, not md5/);
  });

  it('refuses a reference cycle between paths of one batch', () => {
    const a = outputPath('cycle-a');
    const b = outputPath('cycle-b');
    assert.throws(() => registerValidPaths(store.db, [builtInfo(a, [b]), builtInfo(b, [a])]), ReferenceCycleError);
    assert.deepEqual(counts(store), [0, 0, 0]);
  });

  it('updates hash, size, ultimate, signatures and content address of a path that is valid already', () => {
    const path = outputPath('again');
    registerValidPaths(store.db, [builtInfo(path, [], { registrationTime: 1000, deriver: vector.simpleDrv.path })]);
    const narHash = hashBytes('sha256', 'other');
    registerValidPaths(store.db, [builtInfo(path, [], { narHash, narSize: 999, ultimate: true, sigs: ['k:s'], registrationTime: 2000 })]);
    const info = queryPathInfo(store.db, path)!;
    assert.ok(info.narHash.equals(narHash));
    assert.equal(info.narSize, 999);
    assert.equal(info.ultimate, true);
    assert.deepEqual(info.sigs, ['k:s']);
    assert.equal(info.registrationTime, 1000, 'the registration time stays');
    assert.equal(info.deriver, vector.simpleDrv.path, 'the deriver stays');
  });

  it('records the outputs of a .drv so its derivers and outputs can be found', () => {
    const outputs = new Map([[vector.simpleDrv.path, new Map([['out', vector.simple.path]])]]);
    registerValidPaths(store.db, [vector.bbdir, vector.simpleDrv], outputs);
    assert.deepEqual(queryValidDerivers(store.db, vector.simple.path), [vector.simpleDrv.path]);
    assert.deepEqual([...queryDerivationOutputs(store.db, vector.simpleDrv.path)], [['out', vector.simple.path]]);
  });

  it('refuses outputs for a path that is not a derivation', () => {
    const outputs = new Map([[vector.regular.path, new Map([['out', vector.simple.path]])]]);
    assert.throws(() => registerValidPaths(store.db, [vector.regular], outputs), /it is not a derivation/);
  });
});
