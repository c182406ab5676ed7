/**
 * Without a sandbox a builder sees the host. If it hard-links someone else's file into its
 * output, registering that output would publish the file and canonicalising it would chmod
 * and chown the original. The output must be refused and the file left exactly as it was.
 */
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BuildStore } from '../support/buildStore.js';

describe('security: foreign files hard-linked into $out (sandbox = false)', function () {
  this.timeout(120000);
  let bs: BuildStore;
  let victimDir: string;
  before(function () {
    if (process.getuid?.() !== 0) this.skip(); // build users need root
  });
  beforeEach(async () => {
    bs = await BuildStore.create({ inPlace: true });
    victimDir = mkdtempSync('/tmp/tsnix-victim-');
    chmodSync(victimDir, 0o755);
  });
  afterEach(() => {
    bs.remove();
    rmSync(victimDir, { recursive: true, force: true });
  });

  it('a world-writable root-owned file linked as $out is refused, and the file keeps its owner, mode and time', async () => {
    const victim = join(victimDir, 'victim');
    writeFileSync(victim, 'secret\n');
    // 0666 so the kernel's protected_hardlinks lets the build user link it: only our check stands.
    chmodSync(victim, 0o4666 & 0o666);
    const before = statSync(victim);
    const thief = bs.drv('thief', `ln ${victim} $out`);
    await bs.write([thief]);
    const r = await bs.run(['-r', '--option', 'sandbox', 'false', thief.drvPath]);
    assert.equal(r.code, 100, r.stderr);
    assert.match(r.stderr, new RegExp(`invalid ownership on file '${bs.real(thief.out)}'`));
    assert.notEqual((await bs.run(['--check-validity', thief.out])).code, 0);
    const after = statSync(victim);
    assert.equal(after.uid, 0);
    assert.equal(after.mode & 0o7777, 0o666);
    assert.equal(after.mtimeMs, before.mtimeMs);
    assert.equal(after.nlink, 1, 'the link in the store was removed');
  });

  it('a foreign file linked inside an output directory is refused too', async () => {
    const victim = join(victimDir, 'inner');
    writeFileSync(victim, 'secret\n');
    chmodSync(victim, 0o666);
    const thief = bs.drv('thief-dir', `mkdir -p $out/sub; echo mine > $out/mine; ln ${victim} $out/sub/foo`);
    await bs.write([thief]);
    const r = await bs.run(['-r', '--option', 'sandbox', 'false', thief.drvPath]);
    assert.equal(r.code, 100, r.stderr);
    assert.match(r.stderr, /invalid ownership on file '.*\/sub\/foo'/);
    assert.equal(statSync(victim).mode & 0o7777, 0o666);
  });

  it('in a large output (checked on a worker thread, not inline) a foreign file is refused too', async () => {
    const victim = join(victimDir, 'deep');
    writeFileSync(victim, 'secret\n');
    chmodSync(victim, 0o666);
    const thief = bs.drv('thief-big', `mkdir -p $out/many; for i in $(seq 100); do echo $i > $out/many/f$i; done; ln ${victim} $out/many/zz`);
    await bs.write([thief]);
    const r = await bs.run(['-r', '--option', 'sandbox', 'false', thief.drvPath]);
    assert.equal(r.code, 100, r.stderr);
    assert.match(r.stderr, /invalid ownership on file '.*\/many\/zz'/);
    assert.equal(statSync(victim).mode & 0o7777, 0o666);
  });

  it('ln /etc/shadow $out fails and /etc/shadow is untouched', async () => {
    const before = statSync('/etc/shadow');
    const thief = bs.drv('shadow', 'ln /etc/shadow $out');
    await bs.write([thief]);
    const r = await bs.run(['-r', '--option', 'sandbox', 'false', thief.drvPath]);
    assert.equal(r.code, 100, r.stderr);
    const after = statSync('/etc/shadow');
    assert.deepEqual([after.uid, after.gid, after.mode, after.mtimeMs, after.nlink], [before.uid, before.gid, before.mode, before.mtimeMs, before.nlink]);
  });

  it('an honest build without a sandbox is registered with canonical metadata', async () => {
    const honest = bs.drv('honest', `mkdir -p $out/bin; echo hi > $out/f; echo '#!/bin/sh' > $out/bin/x; chmod 4755 $out/bin/x 2>/dev/null || chmod 755 $out/bin/x; echo $out > $out/self`);
    await bs.write([honest]);
    const r = await bs.run(['-r', '--option', 'sandbox', 'false', honest.drvPath]);
    assert.equal(r.code, 0, r.stderr);
    for (const [rel, mode] of [['', 0o555], ['/f', 0o444], ['/bin/x', 0o555], ['/bin', 0o555]] as const) {
      const st = statSync(bs.real(honest.out) + rel);
      assert.equal(st.mode & 0o7777, mode, `mode of '${rel}'`);
      assert.equal(st.uid, 0);
      assert.equal(st.mtimeMs, 1000);
    }
    assert.deepEqual((await bs.run(['-q', '--references', honest.out])).stdout.toString(), `${honest.out}\n`);
  });
});
