import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync, writeFileSync, openSync, closeSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { openStoreDatabase } from '../../../src/store/database.js';
import { StoreSchemaError } from '../../../src/store/dbErrors.js';
import { StoreLayout } from '../../../src/store/layout.js';
import { tryLock } from '../../../src/store/locks/flock.js';
import { fixture } from '../../support/fixtures.js';
import { tempRoot, tempStore, type TempStore } from './dbFixtures.js';

describe('store database: creating and opening', () => {
  let store: TempStore;
  beforeEach(async () => {
    store = await tempStore();
  });
  afterEach(() => store.dispose());

  it('creates the schema exactly as Nix 2.8 stores it in sqlite_master', () => {
    const rows = store.db.sqlite.prepare("select sql from sqlite_master where sql is not null order by rowid").pluck().all() as string[];
    const schema = rows.map((sql) => `${sql};\n`).join('');
    assert.equal(schema, readFileSync(fixture('db/schema.sql'), 'utf8'));
  });

  it('writes db/schema as the two bytes "10"', () => {
    assert.deepEqual(readFileSync(store.layout.schemaPath), Buffer.from('10'));
  });

  it('uses the connection settings Nix uses', () => {
    const pragma = (name: string): unknown => store.db.sqlite.pragma(name, { simple: true });
    assert.equal(pragma('journal_mode'), 'wal');
    assert.equal(pragma('foreign_keys'), 1);
    assert.equal(pragma('synchronous'), 1);
    assert.equal(pragma('wal_autocheckpoint'), 40000);
    assert.equal(pragma('busy_timeout'), 3600000);
    assert.equal(pragma('page_size'), 4096);
    assert.equal(pragma('user_version'), 0);
  });

  it('creates the store directory with mode 1775 and the state directories', () => {
    assert.equal(statSync(join(store.root, 'nix/store')).mode & 0o7777, 0o1775);
    for (const dir of ['temproots', 'gcroots', 'profiles', 'db']) {
      assert.ok(statSync(join(store.root, 'nix/var/nix', dir)).isDirectory(), dir);
    }
  });

  it('holds a shared lock on db/big-lock while open, so a schema upgrade must wait', () => {
    const fd = openSync(store.layout.bigLockPath, 'r+');
    try {
      assert.equal(tryLock(fd, 'exclusive'), false);
      assert.equal(tryLock(fd, 'shared'), true);
      store.db.close();
      assert.equal(tryLock(fd, 'exclusive'), true);
    } finally {
      closeSync(fd);
    }
  });

  it('reopens an existing database and sees its rows', async () => {
    store.db.sqlite.prepare("insert into ValidPaths (path, hash, registrationTime) values ('/nix/store/x', 'sha256:00', 1)").run();
    store.db.close();
    const again = await openStoreDatabase(store.layout, { create: false });
    try {
      assert.equal(again.sqlite.prepare('select count(*) from ValidPaths').pluck().get(), 1);
    } finally {
      again.close();
    }
  });
});

describe('store database: schema versions it refuses', () => {
  let root: string;
  beforeEach(async () => {
    root = tempRoot();
    (await openStoreDatabase(new StoreLayout({ root }))).close();
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  async function openWithSchema(text: string): Promise<Error> {
    const layout = new StoreLayout({ root });
    writeFileSync(layout.schemaPath, text);
    return openStoreDatabase(layout).then(
      () => assert.fail('opened a store with schema ' + text),
      (e: Error) => e,
    );
  }

  it('refuses a newer schema with Nix\'s message', async () => {
    const e = await openWithSchema('11');
    assert.ok(e instanceof StoreSchemaError);
    assert.match(e.message, /^current Nix store schema is version 11, but I only support 10/);
  });

  it('refuses an older schema and says how to upgrade', async () => {
    const e = await openWithSchema('9');
    assert.ok(e instanceof StoreSchemaError);
    assert.match(e.message, /version 9 .*only supports 10; run Nix 2\.8 on this store once/);
  });

  it('calls a garbled schema file corrupt, naming it', async () => {
    const e = await openWithSchema('ten');
    assert.ok(e instanceof StoreSchemaError);
    assert.match(e.message, /db\/schema' is corrupt$/);
  });

  it('releases the big lock when it refuses', async () => {
    await openWithSchema('11');
    const fd = openSync(new StoreLayout({ root }).bigLockPath, 'r+');
    try {
      assert.equal(tryLock(fd, 'exclusive'), true);
    } finally {
      closeSync(fd);
    }
  });

  it('does not create a store when told not to', async () => {
    const empty = tempRoot();
    try {
      await assert.rejects(openStoreDatabase(new StoreLayout({ root: empty }), { create: false }));
      assert.equal(existsSync(join(empty, 'nix/var/nix/db/db.sqlite')), false);
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });
});

describe('store layout', () => {
  it('puts a chroot store under its root and keeps the logical store directory', () => {
    const layout = new StoreLayout({ root: '/srv/r' });
    assert.equal(layout.storeDir, '/nix/store');
    assert.equal(layout.realStoreDir, '/srv/r/nix/store');
    assert.equal(layout.dbPath, '/srv/r/nix/var/nix/db/db.sqlite');
    assert.equal(layout.toReal('/nix/store/8awlk6rgzynhczrf7mwqjfk93zbcldl6-a.txt/x'), '/srv/r/nix/store/8awlk6rgzynhczrf7mwqjfk93zbcldl6-a.txt/x');
    assert.equal(layout.tempRootsFile(42), '/srv/r/nix/var/nix/temproots/42');
  });

  it('uses the store directly for the root /', () => {
    const layout = new StoreLayout();
    assert.equal(layout.toReal('/nix/store/8awlk6rgzynhczrf7mwqjfk93zbcldl6-a.txt'), '/nix/store/8awlk6rgzynhczrf7mwqjfk93zbcldl6-a.txt');
    assert.equal(layout.gcSocketPath, '/nix/var/nix/gc-socket/socket');
  });

  it('refuses to map a path outside the store', () => {
    assert.throws(() => new StoreLayout({ root: '/r' }).toReal('/etc/passwd'), /not in the Nix store/);
  });
});
