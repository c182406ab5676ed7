import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { OutputRewriteError, rewriteOutputTree } from '../../../src/build/rewriteOutput.js';
import { dumpPath } from '../../../src/store/nar/index.js';
import { collect, removeTree, tempDir } from '../store/narFixtures.js';

const REAL = 'dzlyqx2ian7g7d3q7c82f62y9gabffbn';
const TEMP = 'mxzxqjhhdimzlhlil55ba8gp6zrgcbhz';
const OTHER = '8awlk6rgzynhczrf7mwqjfk93zbcldl6';

const toTemp = new Map([[REAL, TEMP]]);
const toReal = new Map([[TEMP, REAL]]);

function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

describe('rewriteOutputTree (hash parts in a build output, for --check and --repair without the sandbox)', () => {
  let scratch: string;
  beforeEach(() => {
    scratch = tempDir();
  });
  afterEach(() => removeTree(scratch));

  /** An output as a build at /nix/store/REAL-pkg would leave it. */
  function makeOutput(): string {
    const out = join(scratch, 'out');
    mkdirSync(join(out, 'bin'), { recursive: true });
    mkdirSync(join(out, 'share'));
    writeFileSync(join(out, 'bin', 'tool'), `#!/bin/sh\nexec /nix/store/${REAL}-pkg/share/run --lib /nix/store/${OTHER}-lib\n`, { mode: 0o755 });
    writeFileSync(join(out, 'share', 'data'), `self=${REAL}\n`);
    symlinkSync(`/nix/store/${REAL}-pkg`, join(out, 'self'));
    writeFileSync(join(out, 'share', `${REAL}-cache`), 'named after the hash\n');
    return out;
  }

  it('rewrites contents, symlink targets and entry names, and keeps the executable bit', async () => {
    const out = makeOutput();
    const copy = join(scratch, 'copy');
    await rewriteOutputTree(out, copy, toTemp);
    assert.equal(readFileSync(join(copy, 'bin', 'tool'), 'utf8'), `#!/bin/sh\nexec /nix/store/${TEMP}-pkg/share/run --lib /nix/store/${OTHER}-lib\n`);
    assert.equal(readFileSync(join(copy, 'share', 'data'), 'utf8'), `self=${TEMP}\n`);
    assert.equal(readlinkSync(join(copy, 'self')), `/nix/store/${TEMP}-pkg`);
    assert.deepEqual(readdirSync(join(copy, 'share')).sort(), ['data', `${TEMP}-cache`]);
    const mode = (path: string) => lstatSync(join(copy, path)).mode & 0o7777;
    assert.equal(mode('bin/tool'), 0o555);
    assert.equal(mode('share/data'), 0o444);
    assert.equal(mode('share'), 0o555);
    assert.equal(lstatSync(join(copy, 'share', 'data')).mtimeMs, 1000, 'canonical modification time');
    assert.equal(readFileSync(join(out, 'share', 'data'), 'utf8'), `self=${REAL}\n`, 'the original is untouched');
  });

  it('rewriting there and back gives the original NAR, and returns the hash of what it wrote', async () => {
    const out = makeOutput();
    const original = await collect(dumpPath(out));
    const there = await rewriteOutputTree(out, join(scratch, 'there'), toTemp);
    assert.notEqual(there.narHash.toBase16(), sha256(original));
    assert.equal(there.narHash.toBase16(), sha256(await collect(dumpPath(join(scratch, 'there')))));
    const back = await rewriteOutputTree(join(scratch, 'there'), join(scratch, 'back'), toReal);
    assert.equal(back.narHash.toBase16(), sha256(original));
    assert.equal(back.narSize, original.length);
    assert.deepEqual(await collect(dumpPath(join(scratch, 'back'))), original);
  });

  it('rewrites a hash part that the NAR stream splits between two chunks', async () => {
    const out = join(scratch, 'big');
    mkdirSync(out);
    // Hash parts every 33 bytes over 3 MiB: every 1 MiB chunk boundary of the dump falls
    // inside one of them unless it hits one of the separators.
    const unit = Buffer.from(`${REAL}/`);
    const contents = Buffer.alloc(3 * (1 << 20) + 100);
    for (let at = 0; at < contents.length; at += unit.length) unit.copy(contents, at);
    writeFileSync(join(out, 'file'), contents);

    const chunks: Buffer[] = [];
    for await (const chunk of dumpPath(out)) chunks.push(Buffer.from(chunk));
    const nar = Buffer.concat(chunks);
    let boundary = 0;
    let split = 0;
    for (const chunk of chunks.slice(0, -1)) {
      boundary += chunk.length;
      const before = nar.subarray(Math.max(0, boundary - 31), boundary).toString('latin1');
      const after = nar.subarray(boundary, boundary + 31).toString('latin1');
      if (!before.endsWith('/') && !after.startsWith('/') && (before + after).includes(REAL)) split++;
    }
    assert.ok(split > 0, 'the dump splits at least one hash part between chunks');

    await rewriteOutputTree(out, join(scratch, 'copy'), toTemp);
    const rewritten = readFileSync(join(scratch, 'copy', 'file')).toString('latin1');
    assert.equal(rewritten.length, contents.length);
    assert.ok(!rewritten.includes(REAL));
    assert.equal(rewritten.split(TEMP).length - 1, contents.toString('latin1').split(REAL).length - 1);
  });

  it('copies a single file and a single symlink as well as a directory', async () => {
    writeFileSync(join(scratch, 'file'), `${REAL}`, { mode: 0o755 });
    symlinkSync(`${REAL}-x`, join(scratch, 'link'));
    await rewriteOutputTree(join(scratch, 'file'), join(scratch, 'file2'), toTemp);
    await rewriteOutputTree(join(scratch, 'link'), join(scratch, 'link2'), toTemp);
    assert.equal(readFileSync(join(scratch, 'file2'), 'utf8'), TEMP);
    assert.equal(lstatSync(join(scratch, 'file2')).mode & 0o777, 0o555);
    assert.equal(readlinkSync(join(scratch, 'link2')), `${TEMP}-x`);
  });

  it('renames entries even when that changes their order in the directory', async () => {
    // 'f-between' sorts after the REAL name ('d...') and before the TEMP one ('m...').
    const out = join(scratch, 'out');
    mkdirSync(join(out, 'sub'), { recursive: true });
    writeFileSync(join(out, `${REAL}-x`), `${REAL}\n`, { mode: 0o755 });
    writeFileSync(join(out, 'f-between'), 'plain\n');
    mkdirSync(join(out, 'sub', `${REAL}-dir`));
    symlinkSync(`../${REAL}-x`, join(out, 'sub', `${REAL}-dir`, 'link'));
    writeFileSync(join(out, 'sub', 'g'), '');
    const original = await collect(dumpPath(out));

    const there = await rewriteOutputTree(out, join(scratch, 'there'), toTemp);
    const copy = join(scratch, 'there');
    assert.deepEqual(readdirSync(copy).sort(), ['f-between', `${TEMP}-x`, 'sub']);
    assert.deepEqual(readdirSync(join(copy, 'sub')).sort(), ['g', `${TEMP}-dir`]);
    assert.equal(readFileSync(join(copy, `${TEMP}-x`), 'utf8'), `${TEMP}\n`);
    assert.equal(lstatSync(join(copy, `${TEMP}-x`)).mode & 0o777, 0o555);
    assert.equal(readlinkSync(join(copy, 'sub', `${TEMP}-dir`, 'link')), `../${TEMP}-x`);
    for (const dir of ['', 'sub', `sub/${TEMP}-dir`]) {
      assert.equal(lstatSync(join(copy, dir)).mode & 0o777, 0o555, `mode of '${dir}'`);
      assert.equal(lstatSync(join(copy, dir)).mtimeMs, 1000, `time of '${dir}'`);
    }
    assert.equal(there.narHash.toBase16(), sha256(await collect(dumpPath(copy))));

    const back = await rewriteOutputTree(copy, join(scratch, 'back'), toReal);
    assert.equal(back.narHash.toBase16(), sha256(original));
    assert.deepEqual(await collect(dumpPath(join(scratch, 'back'))), original);
  });

  it('fails with a clear error when a renamed entry would take the name of another', async () => {
    const out = join(scratch, 'out');
    mkdirSync(out);
    writeFileSync(join(out, `${REAL}-x`), '1');
    writeFileSync(join(out, `${TEMP}-x`), '2');
    await assert.rejects(rewriteOutputTree(out, join(scratch, 'copy'), toTemp), (err: Error) => {
      assert.ok(err instanceof OutputRewriteError, String(err));
      assert.equal(err.message, `cannot rewrite the hash parts in '${out}': entry '${REAL}-x' would be renamed to '${TEMP}-x', which is taken`);
      return true;
    });
  });

  it('refuses to write over an existing target', async () => {
    const out = makeOutput();
    mkdirSync(join(scratch, 'taken'));
    await assert.rejects(rewriteOutputTree(out, join(scratch, 'taken'), toTemp), {
      name: 'OutputRewriteError',
      message: `cannot write the rewritten copy of '${out}' to '${join(scratch, 'taken')}': it already exists`,
    });
  });
});
