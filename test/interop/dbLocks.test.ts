/**
 * Locks against real Nix 2.8: nix and tsnix exclude each other on `P.lock`, and nix's garbage
 * collector honours our temp roots while our process lives and only then.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { hashBytes } from '../../src/format/hash.js';
import { makeFixedOutputPath, makeStorePath } from '../../src/format/storePath.js';
import { openStoreDatabase } from '../../src/store/database.js';
import { StoreLayout } from '../../src/store/layout.js';
import { openLockFile, tryLock } from '../../src/store/locks/flock.js';
import { PathLocks } from '../../src/store/locks/pathLock.js';
import { TempRoots } from '../../src/store/locks/tempRoots.js';
import { makePathInfo } from '../../src/store/pathInfo.js';
import { isValidPath } from '../../src/store/queryPathInfo.js';
import { registerValidPaths } from '../../src/store/registerPaths.js';
import { findNixProgram, nixBytes, nixOk, requireNix } from '../support/nix.js';
import { tempRoot } from '../unit/store/dbFixtures.js';
import { sleep } from '../unit/store/lockFixtures.js';

const distSrc = fileURLToPath(new URL('../../src/store/', import.meta.url));

function flockUtil(context: Mocha.Context): string {
  const found = findNixProgram('flock');
  if (found === undefined) context.skip();
  return found;
}

describe('interop: path locks shared with nix', function () {
  this.timeout(60000);
  let nixStore: string;
  let root: string;
  let layout: StoreLayout;

  before(function () {
    nixStore = requireNix(this);
  });
  beforeEach(() => {
    root = tempRoot();
    layout = new StoreLayout({ root });
    mkdirSync(layout.realStoreDir, { recursive: true });
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('a lock we hold is one that flock(2), which nix uses, cannot take', async function () {
    const flock = flockUtil(this);
    const path = makeStorePath('output:out', hashBytes('sha256', 'locked'), 'locked');
    const locks = await PathLocks.lock(layout, [path]);
    assert.equal(spawnSync(flock, ['-n', layout.lockFileFor(path), 'true']).status, 1);
    locks.release();
    assert.equal(existsSync(layout.lockFileFor(path)), false);
    assert.equal(spawnSync(flock, ['-n', layout.lockFileFor(path), 'true']).status, 0);
  });

  it('we wait for a lock another program holds with flock(2)', async function () {
    const flock = flockUtil(this);
    const path = makeStorePath('output:out', hashBytes('sha256', 'theirs'), 'theirs');
    writeFileSync(layout.lockFileFor(path), '');
    const holder = spawn(flock, [layout.lockFileFor(path), 'sleep', '1']);
    // Listen at once: the holder may exit in the same turn of the event loop that grants us the lock.
    const holderExited = new Promise((resolve) => holder.on('exit', resolve));
    await sleep(200);
    const started = Date.now();
    const locks = await PathLocks.lock(layout, [path]);
    assert.ok(Date.now() - started >= 500, `waited ${Date.now() - started} ms`);
    locks.release();
    await holderExited;
  });

  it('nix-store --add waits while we hold the lock of the path it would add', async () => {
    const file = join(root, 'added.txt');
    writeFileSync(file, 'contended\n');
    const narHash = hashBytes('sha256', nixBytes(nixStore, ['--dump', file]));
    const path = makeFixedOutputPath('recursive', narHash, 'added.txt');
    const db = await openStoreDatabase(layout);
    try {
      const locks = await PathLocks.lock(layout, [path]);
      const nix = spawn(nixStore, ['--store', root, '--add', file], { env: { ...process.env, NIX_CONF_DIR: '/nonexistent', NIX_REMOTE: '' } });
      let stdout = '';
      nix.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      const exited = new Promise<number | null>((resolve) => nix.on('exit', resolve));
      let done = false;
      void exited.then(() => (done = true));
      await sleep(1500);
      assert.equal(done, false, 'nix finished while we held the lock');
      assert.equal(isValidPath(db, path), false);
      locks.release();
      assert.equal(await exited, 0);
      assert.equal(stdout.trim(), path);
      assert.equal(isValidPath(db, path), true);
    } finally {
      db.close();
    }
  });
});

const TEMP_ROOT_CHILD = `
import { TempRoots } from ${JSON.stringify(join(distSrc, 'locks/tempRoots.js'))};
import { StoreLayout } from ${JSON.stringify(join(distSrc, 'layout.js'))};
const [root, path] = process.argv.slice(2);
await TempRoots.for(new StoreLayout({ root })).add(path);
console.log('rooted');
setInterval(() => {}, 1000);
`;

describe('interop: nix-store --gc and our temp roots', function () {
  this.timeout(60000);
  let nixStore: string;
  let root: string;

  before(function () {
    nixStore = requireNix(this);
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('keeps a path our live process holds a temp root for, and collects it once that process is killed', async () => {
    root = tempRoot();
    const layout = new StoreLayout({ root });
    const db = await openStoreDatabase(layout);
    const [kept, collected] = ['kept', 'collected'].map((name) => {
      const path = makeStorePath('output:out', hashBytes('sha256', `gc ${name}`), name);
      writeFileSync(layout.toReal(path), name);
      return makePathInfo({ path, ...narOf(nixStore, layout.toReal(path)) });
    }) as [ReturnType<typeof makePathInfo>, ReturnType<typeof makePathInfo>];
    registerValidPaths(db, [kept, collected]);
    db.close();

    const script = join(root, 'temp-root-child.mjs');
    writeFileSync(script, TEMP_ROOT_CHILD);
    const child = spawn(process.execPath, [script, root, kept.path], { stdio: ['ignore', 'pipe', 'inherit'] });
    const exited = new Promise((resolve) => child.on('exit', resolve));
    try {
      await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
      nixOk(nixStore, ['--store', root, '--gc']);
      assert.equal(existsSync(layout.toReal(collected.path)), false, 'an unrooted path is collected');
      assert.equal(existsSync(layout.toReal(kept.path)), true, 'the temp root kept its path');
    } finally {
      child.kill('SIGKILL');
      await exited;
    }
    nixOk(nixStore, ['--store', root, '--gc']);
    assert.equal(existsSync(layout.toReal(kept.path)), false, 'collected once its process died');
    assert.equal(existsSync(layout.tempRootsFile(child.pid!)), false, 'the stale temp roots file is removed');
  });
});

describe('interop: a temp root added while nix-store --gc runs', function () {
  this.timeout(60000);
  let nixStore: string;
  let root: string;

  before(function () {
    nixStore = requireNix(this);
    if (findNixProgram('mkfifo') === undefined) this.skip();
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('goes over the GC socket, is acknowledged while the GC holds its lock, and the GC spares the path', async () => {
    root = tempRoot();
    const layout = new StoreLayout({ root });
    const db = await openStoreDatabase(layout);
    const [kept, collected] = ['late-root', 'garbage'].map((name) => {
      const path = makeStorePath('output:out', hashBytes('sha256', `gc socket ${name}`), name);
      writeFileSync(layout.toReal(path), name);
      return makePathInfo({ path, ...narOf(nixStore, layout.toReal(path)) });
    }) as [ReturnType<typeof makePathInfo>, ReturnType<typeof makePathInfo>];
    registerValidPaths(db, [kept, collected]);
    db.close();

    // Nix's own test hook: the collector, holding gc.lock and serving its socket, having
    // read the roots, stops until something is written to this FIFO.
    const fifo = join(root, 'gc-sync');
    assert.equal(spawnSync('mkfifo', [fifo]).status, 0);
    const gc = spawn(nixStore, ['--store', root, '--gc'], {
      env: { ...process.env, NIX_CONF_DIR: '/nonexistent', NIX_REMOTE: '', _NIX_TEST_GC_SYNC: fifo },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    gc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => gc.on('exit', resolve));
    const roots = TempRoots.for(layout);
    try {
      const probe = () => {
        if (!existsSync(layout.gcLockPath) || !existsSync(layout.gcSocketPath)) return false;
        const fd = openLockFile(layout.gcLockPath, false);
        if (fd === undefined) return false;
        try {
          return !tryLock(fd, 'shared');
        } finally {
          closeSync(fd);
        }
      };
      while (!probe()) await sleep(20);
      // Add the root only once the GC has read the temp roots files and waits at its sync
      // point (blocked opening the FIFO), so that only the socket can protect the path.
      const blockedOnFifo = (): boolean => readFileSync(`/proc/${gc.pid}/wchan`, 'utf8') === 'wait_for_partner';
      for (let i = 0; i < 250 && !blockedOnFifo(); i++) await sleep(20);
      assert.ok(blockedOnFifo(), 'the GC reached its sync point');
      await roots.add(kept.path);
      const writer = await open(fifo, 'w');
      await writer.write('go\n');
      await writer.close();
      assert.equal(await exited, 0, stderr);
      assert.equal(existsSync(layout.toReal(collected.path)), false, 'garbage is collected');
      assert.equal(existsSync(layout.toReal(kept.path)), true, 'the late temp root kept its path');
    } finally {
      gc.kill('SIGKILL');
      roots.close();
    }
  });
});

function narOf(nixStore: string, real: string): { narHash: ReturnType<typeof hashBytes>; narSize: number } {
  const nar = nixBytes(nixStore, ['--dump', real]);
  return { narHash: hashBytes('sha256', nar), narSize: nar.length };
}
