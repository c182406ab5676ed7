import assert from 'node:assert/strict';
import { closeSync, existsSync, fstatSync, mkdirSync, openSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { StoreLayout } from '../../../src/store/layout.js';
import { tryLock } from '../../../src/store/locks/flock.js';
import { PathLocks } from '../../../src/store/locks/pathLock.js';
import { outputPath, tempRoot } from './dbFixtures.js';
import { sleep, startLockChild } from './lockFixtures.js';

describe('path locks', () => {
  let root: string;
  let layout: StoreLayout;
  const path = outputPath('locked-output');
  const other = outputPath('other-output');
  beforeEach(() => {
    root = tempRoot();
    layout = new StoreLayout({ root });
    mkdirSync(layout.realStoreDir, { recursive: true });
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('creates P.lock with mode 0600 beside the physical path', async () => {
    const locks = await PathLocks.lock(layout, [path]);
    try {
      assert.deepEqual(locks.lockFiles, [`${root}/nix/store/${path.slice(11)}.lock`]);
      assert.equal(statSync(layout.lockFileFor(path)).mode & 0o777, 0o600);
    } finally {
      locks.release();
    }
  });

  it('cannot be taken a second time until released', async () => {
    const first = await PathLocks.lock(layout, [path]);
    assert.equal(await PathLocks.tryLock(layout, [path]), undefined);
    first.release();
    const second = await PathLocks.tryLock(layout, [path]);
    assert.ok(second);
    second.release();
  });

  it('on release writes one byte into the lock file and unlinks it', async () => {
    const locks = await PathLocks.lock(layout, [path]);
    const observer = openSync(layout.lockFileFor(path), 'r');
    try {
      locks.release();
      assert.equal(existsSync(layout.lockFileFor(path)), false);
      assert.equal(fstatSync(observer).size, 1);
    } finally {
      closeSync(observer);
    }
  });

  it('keeps the lock file when asked not to delete it', async () => {
    const locks = await PathLocks.lock(layout, [path], { deleteOnRelease: false });
    locks.release();
    assert.equal(readFileSync(layout.lockFileFor(path)).length, 0);
  });

  it('makes a waiter say "waiting for lock on" and then start again on a fresh file when the holder releases', async () => {
    const holder = await PathLocks.lock(layout, [path]);
    const messages: string[] = [];
    const waiter = PathLocks.lock(layout, [path], { onWait: (m) => messages.push(m) });
    await sleep(100);
    assert.deepEqual(messages, [`waiting for lock on '${layout.lockFileFor(path)}'`]);
    holder.release();
    const got = await waiter;
    try {
      // The file the waiter first locked was unlinked and marked stale; it must now hold a
      // lock on the file that exists under the name.
      const fd = openSync(layout.lockFileFor(path), 'r');
      try {
        assert.equal(fstatSync(fd).size, 0);
        assert.equal(tryLock(fd, 'exclusive'), false);
      } finally {
        closeSync(fd);
      }
    } finally {
      got.release();
    }
  });

  it('treats an existing empty lock file left by a crashed holder as free', async () => {
    writeFileSync(layout.lockFileFor(path), '');
    const locks = await PathLocks.tryLock(layout, [path]);
    assert.ok(locks);
    locks.release();
  });

  it('takes several locks in sorted order and keeps none when one is busy', async () => {
    const busy = await PathLocks.lock(layout, [other]);
    assert.equal(await PathLocks.tryLock(layout, [other, path]), undefined);
    const alone = await PathLocks.tryLock(layout, [path]);
    assert.ok(alone, 'the free lock was given back');
    alone.release();
    busy.release();
    const both = await PathLocks.lock(layout, [other, path]);
    assert.deepEqual(both.lockFiles, [layout.lockFileFor(path), layout.lockFileFor(other)].sort());
    both.release();
  });

  it('keeps file I/O working while many lock waits are pending (the thread pool is not used up)', async () => {
    const paths = [1, 2, 3, 4, 5, 6].map((i) => outputPath(`pool-${i}`));
    const holders = await Promise.all(paths.map((p) => PathLocks.lock(layout, [p])));
    const waiters = paths.map((p) => PathLocks.lock(layout, [p]));
    await sleep(50);
    const started = Date.now();
    await Promise.all([1, 2, 3, 4, 5].map(() => readFile(layout.lockFileFor(paths[0]!))));
    assert.ok(Date.now() - started < 1000, 'file reads were not starved');
    for (const h of holders) h.release();
    for (const w of await Promise.all(waiters)) w.release();
  });

  it('stops waiting when aborted', async () => {
    const holder = await PathLocks.lock(layout, [path]);
    const controller = new AbortController();
    const waiter = PathLocks.lock(layout, [path], { signal: controller.signal });
    await sleep(50);
    controller.abort();
    await assert.rejects(waiter, { name: 'AbortError' });
    holder.release();
  });
});

describe('path locks between processes', function () {
  this.timeout(20000);
  let root: string;
  let layout: StoreLayout;
  const path = outputPath('shared-output');
  beforeEach(() => {
    root = tempRoot();
    layout = new StoreLayout({ root });
    mkdirSync(layout.realStoreDir, { recursive: true });
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('another process cannot take a lock we hold, and waits until we release it', async () => {
    const locks = await PathLocks.lock(layout, [path]);
    const tryer = startLockChild(root, root, path, 'try');
    assert.equal(await tryer.nextLine(), 'busy');
    const waiter = startLockChild(root, root, path, 'wait');
    assert.equal(await waiter.nextLine(), 'waiting');
    locks.release();
    assert.equal(await waiter.nextLine(), 'locked');
    assert.equal(await waiter.exited, 0);
  });

  it('the kernel releases a lock when its holder is killed', async () => {
    const holder = startLockChild(root, root, path, 'hold');
    assert.equal(await holder.nextLine(), 'locked');
    assert.equal(await PathLocks.tryLock(layout, [path]), undefined);
    holder.child.kill('SIGKILL');
    await holder.exited;
    const locks = await PathLocks.tryLock(layout, [path]);
    assert.ok(locks, 'the lock of a dead process is free');
    locks.release();
  });
});
