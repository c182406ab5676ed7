import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, constants, lstatSync, mkdirSync, openSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { errnoError, fileIo, ReadStatus, WRITE_FAILED, type FileIo } from '../../../src/store/fileIo.js';
import { removeTree, tempDir } from './narFixtures.js';

const ENOENT = -2;
const EEXIST = -17;
const ELOOP = -40;

describe('the file addon (addon-c/file-io.node)', () => {
  let scratch: string;
  let io: FileIo;
  let dirFd: number;
  const result = new Float64Array(3);
  before(() => {
    const loaded = fileIo();
    assert.ok(loaded, 'addon-c/file-io.node is not built (make build)');
    io = loaded;
    scratch = tempDir();
    dirFd = openSync(scratch, constants.O_RDONLY | constants.O_DIRECTORY);
  });
  after(() => {
    closeSync(dirFd);
    removeTree(scratch);
  });

  it('reads a small file whole relative to its directory, with its size and mode', () => {
    writeFileSync(join(scratch, 'small'), 'hello');
    execFileSync('chmod', ['750', join(scratch, 'small')]);
    const buffer = Buffer.alloc(64, 0xff);
    assert.equal(io.readFileAt(dirFd, 'small', buffer, 10, 20, result), ReadStatus.Read);
    assert.equal(result[0], 5);
    assert.equal(result[1]! & 0o7777, 0o750);
    assert.equal(buffer.subarray(10, 15).toString(), 'hello');
    assert.equal(buffer[9], 0xff);
    assert.equal(buffer[15], 0xff);
  });

  it('reads nothing of a file over the limit, a directory, a FIFO (without blocking)', () => {
    writeFileSync(join(scratch, 'big'), Buffer.alloc(100));
    mkdirSync(join(scratch, 'dir'));
    execFileSync('mkfifo', [join(scratch, 'fifo')]);
    const buffer = Buffer.alloc(64, 0xff);
    assert.equal(io.readFileAt(dirFd, 'big', buffer, 0, 64, result), ReadStatus.NotRead);
    assert.equal(result[0], 100);
    assert.equal(io.readFileAt(dirFd, 'dir', buffer, 0, 64, result), ReadStatus.NotRead);
    assert.equal(io.readFileAt(dirFd, 'fifo', buffer, 0, 64, result), ReadStatus.NotRead);
    assert.ok(buffer.every((b) => b === 0xff));
  });

  it('never follows a symlink, and reports which call failed', () => {
    symlinkSync('small', join(scratch, 'link'));
    assert.equal(io.readFileAt(dirFd, 'link', Buffer.alloc(8), 0, 8, result), ELOOP);
    assert.equal(result[2], 0);
    assert.equal(io.readFileAt(dirFd, 'missing', Buffer.alloc(8), 0, 8, result), ENOENT);
    assert.equal(result[2], 0);
  });

  it('refuses a name with a NUL inside (it would name another file)', () => {
    assert.throws(() => io.readFileAt(dirFd, 'small\0x', Buffer.alloc(8), 0, 8, result), TypeError);
    assert.throws(() => io.writeFileAt(dirFd, 'made2\0x', Buffer.alloc(8), 0, 8, 0o444, 1), TypeError);
  });

  it('refuses offsets outside the buffer instead of writing past it', () => {
    assert.throws(() => io.readFileAt(dirFd, 'small', Buffer.alloc(8), 4, 8, result), TypeError);
    assert.throws(() => io.writeFileAt(dirFd, 'x', Buffer.alloc(8), 4, 9, 0o444, 1), TypeError);
  });

  it('creates a file with its contents, mode and modification time, never over an existing name or through a symlink', () => {
    const bytes = Buffer.from('..contents..');
    assert.equal(io.writeFileAt(dirFd, 'made', bytes, 2, 10, 0o555, 1), 0);
    assert.equal(readFileSync(join(scratch, 'made'), 'utf8'), 'contents');
    const stats = lstatSync(join(scratch, 'made'));
    assert.equal(stats.mode & 0o7777, 0o555);
    assert.equal(stats.mtimeMs, 1000);
    assert.equal(io.writeFileAt(dirFd, 'made', bytes, 0, 2, 0o444, 1), EEXIST);
    symlinkSync(join(scratch, 'target-of-link'), join(scratch, 'planted'));
    assert.equal(io.writeFileAt(dirFd, 'planted', bytes, 0, 2, 0o444, 1), EEXIST);
    assert.throws(() => lstatSync(join(scratch, 'target-of-link')), /ENOENT/);
    // A failed openat is its errno as it is.
    const EBADF = -9;
    assert.equal(io.writeFileAt(1 << 20, 'nowhere', bytes, 0, 2, 0o444, 1), EBADF);
  });

  it('tells a failure after creation from a failed openat (a full file system)', function () {
    if (process.getuid?.() !== 0) this.skip(); // mounting a small tmpfs needs root
    const full = join(scratch, 'full');
    mkdirSync(full);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=16k', 'tmpfs', full]);
    const fd = openSync(full, constants.O_RDONLY | constants.O_DIRECTORY);
    try {
      const ENOSPC = -28;
      // Created, then refused room for its contents: ENOSPC offset by WRITE_FAILED.
      assert.equal(io.writeFileAt(fd, 'big', Buffer.alloc(1 << 20), 0, 1 << 20, 0o444, 1), ENOSPC - WRITE_FAILED);
    } finally {
      closeSync(fd);
      execFileSync('umount', [full]);
    }
  });

  it('sends a file range to another descriptor', () => {
    writeFileSync(join(scratch, 'source'), '0123456789');
    const inFd = openSync(join(scratch, 'source'), 'r');
    const outFd = openSync(join(scratch, 'sent'), 'w');
    try {
      assert.equal(io.sendFile(outFd, inFd, 3, 4), 4);
      assert.equal(io.sendFile(outFd, inFd, 8, 100), 2);
      assert.equal(io.sendFile(outFd, inFd, 10, 100), 0);
    } finally {
      closeSync(inFd);
      closeSync(outFd);
    }
    assert.equal(readFileSync(join(scratch, 'sent'), 'utf8'), '345689');
  });

  it('turns a status into the error Node would have thrown', () => {
    let nodeError: NodeJS.ErrnoException | undefined;
    try {
      openSync(join(scratch, 'missing'), 'r');
    } catch (e) {
      nodeError = e as NodeJS.ErrnoException;
    }
    const ours = errnoError(ENOENT, 'open', join(scratch, 'missing'));
    assert.equal(ours.message, nodeError?.message);
    assert.equal(ours.code, 'ENOENT');
    assert.equal(ours.errno, nodeError?.errno);
  });
});
