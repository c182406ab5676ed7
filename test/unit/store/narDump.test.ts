import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { dirname, join } from 'node:path';
import { encodeNar, readNarTree, type NarNode } from '../../../src/format/nar/index.js';
import { hashBytes } from '../../../src/format/hash.js';
import { dumpPath, dumpPathSync, NarDumpError } from '../../../src/store/nar/index.js';
import { MAX_DIRECTORY_FDS } from '../../../src/store/nar/dumpPlanner.js';
import { fileIo, useFileIo } from '../../../src/store/fileIo.js';
import { collect, extractTrees, narVectors, removeTree, tempDir } from './narFixtures.js';

describe('dumpPath (vectors/nar, as nix-store --dump)', () => {
  let trees: string;
  let scratch: string;
  before(() => {
    trees = extractTrees();
    scratch = tempDir();
  });
  after(() => {
    removeTree(trees);
    removeTree(scratch);
  });

  for (const v of narVectors()) {
    it(`dumps ${v.name} to Nix's NAR byte for byte, with its sha256 and size`, async () => {
      const bytes = await collect(dumpPath(join(trees, v.name)));
      assert.deepEqual(bytes, v.nar);
      assert.equal(bytes.length, v.size);
      const hash = hashBytes('sha256', bytes);
      assert.equal(hash.toBase16(), v.sha256Base16);
      assert.equal(hash.toNix32(), v.sha256Nix32);
    });
  }

  it('gives the same bytes without the file addon (plain fs calls)', async () => {
    assert.ok(fileIo(), 'the file addon (addon-c/file-io.node) is not built');
    useFileIo(false);
    try {
      for (const v of narVectors()) assert.deepEqual(await collect(dumpPath(join(trees, v.name))), v.nar, v.name);
    } finally {
      useFileIo(true);
    }
  });

  it('gives the same bytes synchronously, in small chunks and with recycled chunks', async () => {
    const expected = narVectors().find((v) => v.name === '06-tree')!.nar;
    const path = join(trees, '06-tree');
    assert.deepEqual(Buffer.concat([...dumpPathSync(path)]), expected);
    assert.deepEqual(Buffer.concat([...dumpPathSync(path, { chunkSize: 1 })].map((c) => Buffer.from(c))), expected);
    const hasher = createHash('sha256');
    for await (const chunk of dumpPath(path, { reuseChunks: true, chunkSize: 16384 })) hasher.update(chunk);
    assert.equal(hasher.digest('hex'), narVectors().find((v) => v.name === '06-tree')!.sha256Base16);
  });

  it('streams a large file in chunks of at most the chunk size', async () => {
    const contents = Buffer.alloc(5 * 1024 * 1024 + 3);
    for (let i = 0; i < contents.length; i += 4096) contents[i] = i & 0xff;
    const path = join(scratch, 'large');
    writeFileSync(path, contents);
    const sizes: number[] = [];
    const hasher = createHash('sha256');
    for await (const chunk of dumpPath(path)) {
      sizes.push(chunk.length);
      hasher.update(chunk);
    }
    assert.ok(sizes.length >= 5, `${sizes.length} chunks`);
    assert.ok(Math.max(...sizes) <= 1024 * 1024);
    const expected = encodeNar({ type: 'regular', executable: false, contents });
    assert.equal(hasher.digest('hex'), createHash('sha256').update(expected).digest('hex'));
  });

  it('streams a file of 40 MiB inside a directory into the same bytes, sync or async, fresh or recycled chunks', async () => {
    const dir = join(scratch, 'big');
    mkdirSync(dir);
    const contents = Buffer.alloc(40 * 1024 * 1024 + 5);
    for (let i = 0; i < contents.length; i += 65536) contents.writeUInt32LE(i, i);
    writeFileSync(join(dir, 'a-before'), 'small');
    writeFileSync(join(dir, 'big'), contents);
    writeFileSync(join(dir, 'z-after'), 'small');
    const small = { type: 'regular', executable: false, contents: Buffer.from('small') } as const;
    const expected = encodeNar({
      type: 'directory',
      entries: [
        { name: Buffer.from('a-before'), node: small },
        { name: Buffer.from('big'), node: { type: 'regular', executable: false, contents } },
        { name: Buffer.from('z-after'), node: small },
      ],
    });
    const sha = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');
    assert.equal(sha(await collect(dumpPath(dir))), sha(expected));
    const hasher = createHash('sha256');
    for await (const chunk of dumpPath(dir, { reuseChunks: true })) hasher.update(chunk);
    assert.equal(hasher.digest('hex'), sha(expected));
    assert.equal(sha(Buffer.concat([...dumpPathSync(dir)])), sha(expected));
    let chunks = 0;
    for await (const chunk of dumpPath(join(dir, 'big'))) {
      void chunk;
      if (++chunks === 2) break;
    }
  });

  it('marks a file executable by the owner x bit only', async () => {
    const dir = join(scratch, 'modes');
    mkdirSync(dir);
    for (const [name, mode] of [['owner', 0o700], ['group', 0o650], ['other', 0o645], ['none', 0o644]] as const) {
      writeFileSync(join(dir, name), name);
      chmodSync(join(dir, name), mode);
    }
    const tree = (await readNarTree(dumpPath(dir))) as Extract<NarNode, { type: 'directory' }>;
    const executable = Object.fromEntries(tree.entries.map((e) => [e.name.toString(), (e.node as { executable: boolean }).executable]));
    assert.deepEqual(executable, { group: false, none: false, other: false, owner: true });
  });

  it('keeps names that are not UTF-8 byte for byte and sorts them byte-wise', async () => {
    const dir = join(scratch, 'bytes');
    mkdirSync(dir);
    const names = [Buffer.from([0xff, 0x41]), Buffer.from('é'), Buffer.from('z'), Buffer.from([0x80])];
    for (const name of names) writeFileSync(Buffer.concat([Buffer.from(dir + '/'), name]), name);
    const tree = (await readNarTree(dumpPath(dir))) as Extract<NarNode, { type: 'directory' }>;
    assert.deepEqual(
      tree.entries.map((e) => e.name.toString('hex')),
      ['7a', '80', 'c3a9', 'ff41'],
    );
    for (const entry of tree.entries) assert.deepEqual((entry.node as { contents: Buffer }).contents, entry.name);
  });

  it('dumps a symlink as itself, never what it points to', async () => {
    const link = join(scratch, 'link-to-tree');
    symlinkSync(join(trees, '06-tree'), link);
    assert.deepEqual(await readNarTree(dumpPath(link)), { type: 'symlink', target: Buffer.from(join(trees, '06-tree')) });
  });

  it('refuses a FIFO, naming it', async () => {
    const dir = join(scratch, 'fifo');
    mkdirSync(dir);
    execFileSync('mkfifo', [join(dir, 'pipe')]);
    await assert.rejects(collect(dumpPath(dir)), (err: Error) => err instanceof NarDumpError && err.message === `file '${dir}/pipe' has an unsupported type`);
  });

  it('refuses a socket, naming it', async () => {
    const dir = join(scratch, 'socket');
    mkdirSync(dir);
    const server: Server = createServer();
    await new Promise<void>((resolve) => server.listen(join(dir, 'sock'), resolve));
    try {
      await assert.rejects(collect(dumpPath(join(dir, 'sock'))), /file '.*\/socket\/sock' has an unsupported type/);
    } finally {
      server.close();
    }
  });

  it('reports a missing path with its name', async () => {
    await assert.rejects(collect(dumpPath(join(scratch, 'missing'))), /ENOENT.*missing/);
  });

  it('with the case hack, strips suffixes and refuses names that collide', async () => {
    const dir = join(scratch, 'hacked');
    mkdirSync(dir);
    writeFileSync(join(dir, 'a'), '1');
    writeFileSync(join(dir, 'A~nix~case~hack~1'), '2');
    const plain = (await readNarTree(dumpPath(dir))) as Extract<NarNode, { type: 'directory' }>;
    assert.deepEqual(plain.entries.map((e) => e.name.toString()), ['A~nix~case~hack~1', 'a']);
    const hacked = (await readNarTree(dumpPath(dir, { useCaseHack: true }))) as Extract<NarNode, { type: 'directory' }>;
    assert.deepEqual(hacked.entries.map((e) => e.name.toString()), ['A', 'a']);
    writeFileSync(join(dir, 'a~nix~case~hack~2'), '3');
    await assert.rejects(collect(dumpPath(dir, { useCaseHack: true })), /file name collision in between '.*\/hacked\/a' and '.*\/hacked\/a~nix~case~hack~2'/);
  });

  it('dumps a tree 500 directories deep (more than it holds open at once), a file at each level', async () => {
    let path = join(scratch, 'deep');
    const root = path;
    for (let i = 0; i < 500; i++) path = join(path, 'd');
    mkdirSync(path, { recursive: true });
    writeFileSync(join(path, 'leaf'), 'leaf');
    let node: NarNode = { type: 'directory', entries: [{ name: Buffer.from('leaf'), node: { type: 'regular', executable: false, contents: Buffer.from('leaf') } }] };
    for (let i = 0; i < 500; i++) {
      path = dirname(path);
      writeFileSync(join(path, 'f'), `${i}`);
      const file: NarNode = { type: 'regular', executable: false, contents: Buffer.from(`${i}`) };
      node = { type: 'directory', entries: [{ name: Buffer.from('d'), node }, { name: Buffer.from('f'), node: file }] };
    }
    assert.ok(500 > MAX_DIRECTORY_FDS);
    assert.deepEqual(await collect(dumpPath(root)), encodeNar(node));
  });
});
