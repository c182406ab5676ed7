import assert from 'node:assert/strict';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { dirname } from 'node:path';
import { StoreLayout } from '../../../src/store/layout.js';
import { openLockFile, tryLock } from '../../../src/store/locks/flock.js';
import { readTempRoots, TempRoots } from '../../../src/store/locks/tempRoots.js';
import { outputPath, tempRoot } from './dbFixtures.js';
import { sleep } from './lockFixtures.js';

/** Plays the garbage collector: holds gc.lock exclusively and answers on gc-socket/socket. */
class FakeCollector {
  readonly received: string[] = [];
  private readonly lockFd: number;
  private server: Server | undefined;
  private readonly connections: Socket[] = [];
  answerDelayMs = 0;
  hangUp = false;

  constructor(private readonly layout: StoreLayout) {
    this.lockFd = openLockFile(layout.gcLockPath, true);
    assert.ok(tryLock(this.lockFd, 'exclusive'));
  }

  async listen(): Promise<void> {
    mkdirSync(dirname(this.layout.gcSocketPath), { recursive: true });
    this.server = createServer((socket) => {
      this.connections.push(socket);
      let buffer = '';
      socket.on('data', (chunk) => {
        buffer += chunk.toString();
        let nl;
        while ((nl = buffer.indexOf('\n')) >= 0) {
          this.received.push(buffer.slice(0, nl));
          buffer = buffer.slice(nl + 1);
          if (this.hangUp) socket.destroy();
          else setTimeout(() => socket.write('1'), this.answerDelayMs);
        }
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(this.layout.gcSocketPath, resolve));
  }

  finish(): void {
    for (const c of this.connections) c.destroy();
    this.server?.close();
    closeSync(this.lockFd);
  }
}

describe('temp roots', function () {
  this.timeout(10000);
  let root: string;
  let layout: StoreLayout;
  let roots: TempRoots;
  const path = outputPath('rooted');
  beforeEach(() => {
    root = tempRoot();
    layout = new StoreLayout({ root });
    mkdirSync(layout.tempRootsDir, { recursive: true });
    roots = TempRoots.for(layout);
  });
  afterEach(() => {
    roots.close();
    rmSync(root, { recursive: true, force: true });
  });

  it('appends NUL-terminated paths to temproots/<pid>, which the GC sees as this live process\'s roots', async () => {
    await roots.add(path);
    await roots.add(outputPath('second'));
    assert.equal(readFileSync(layout.tempRootsFile(), 'latin1'), `${path}\0${outputPath('second')}\0`);
    assert.deepEqual(readTempRoots(layout).get(process.pid), [path, outputPath('second')]);
    assert.ok(existsSync(layout.tempRootsFile()), 'a live file is not removed');
  });

  it('is one object per state directory, so two users in a process share the file', () => {
    assert.equal(TempRoots.for(new StoreLayout({ root })), roots);
  });

  it('holds the file under an exclusive lock', async () => {
    await roots.add(path);
    const fd = openSync(layout.tempRootsFile(), 'r');
    try {
      assert.equal(tryLock(fd, 'shared'), false);
    } finally {
      closeSync(fd);
    }
  });

  it('the GC side removes the file of a dead process and ignores its roots', () => {
    const stale = `${layout.tempRootsDir}/999999999`;
    writeFileSync(stale, `${path}\0`);
    writeFileSync(`${layout.tempRootsDir}/.keep`, '');
    const told: string[] = [];
    const found = readTempRoots(layout, (file) => told.push(file));
    assert.equal(found.size, 0);
    assert.deepEqual(told, [stale]);
    assert.equal(existsSync(stale), false);
  });

  it('while a GC runs, tells it the path over its socket and waits for the answer before going on', async () => {
    const gc = new FakeCollector(layout);
    try {
      await gc.listen();
      gc.answerDelayMs = 150;
      const started = Date.now();
      await roots.add(path);
      assert.ok(Date.now() - started >= 140, 'waited for the answer');
      assert.deepEqual(gc.received, [path]);
      await roots.add(outputPath('second'));
      assert.deepEqual(gc.received, [path, outputPath('second')], 'one connection carries many paths');
      assert.equal(readFileSync(layout.tempRootsFile(), 'latin1'), `${path}\0${outputPath('second')}\0`);
    } finally {
      gc.finish();
    }
  });

  it('starts again from the GC lock when the collector has finished (no socket to connect to)', async () => {
    const gc = new FakeCollector(layout);
    const adding = roots.add(path);
    await sleep(100);
    assert.equal(readTempRoots(layout).get(process.pid)?.length ?? 0, 0, 'not written while unanswered');
    gc.finish();
    await adding;
    assert.deepEqual(readTempRoots(layout).get(process.pid), [path]);
  });

  it('starts again when the collector hangs up without answering', async () => {
    const gc = new FakeCollector(layout);
    await gc.listen();
    gc.hangUp = true;
    const adding = roots.add(path);
    await sleep(100);
    gc.finish();
    await adding;
    assert.deepEqual(readTempRoots(layout).get(process.pid), [path]);
  });
});
