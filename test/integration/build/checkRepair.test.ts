/** `--check` (build again and compare) and `--repair` (build again and replace), with and without the sandbox. */
import assert from 'node:assert/strict';
import { chmodSync, existsSync, readFileSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { BuildStore } from '../../support/buildStore.js';

for (const sandbox of ['true', 'false'] as const) {
  describe(`tsnix-store -r --check (sandbox = ${sandbox})`, function () {
    this.timeout(120000);
    let bs: BuildStore;
    const opts = ['--option', 'sandbox', sandbox];
    beforeEach(async () => {
      // Without a sandbox, builds need the store at its logical location.
      bs = await BuildStore.create({ inPlace: sandbox === 'false' });
    });
    afterEach(() => bs.remove());

    it('passes on a deterministic build whose output contains its own path, leaving the output untouched', async () => {
      const dep = bs.drv('dep', 'echo dep > $out');
      const selfish = bs.drv('selfish', `mkdir -p $out/bin; echo "I am $out, I use ${dep.out}" > $out/bin/who; ln -s $out/bin/who $out/me`, [dep]);
      await bs.write([selfish]);
      assert.equal((await bs.run([...opts, '-r', selfish.drvPath])).code, 0);
      const before = statSync(bs.real(selfish.out) + '/bin/who');
      const hash = (await bs.run(['-q', '--hash', selfish.out])).stdout.toString();
      const r = await bs.run([...opts, '-r', '--check', selfish.drvPath]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout.toString(), `${selfish.out}\n`);
      assert.match(r.stderr, new RegExp(`building '${selfish.drvPath}'`));
      assert.doesNotMatch(r.stderr, new RegExp(`building '${dep.drvPath}'`), '--check rebuilds only what it is given');
      assert.equal((await bs.run(['-q', '--hash', selfish.out])).stdout.toString(), hash);
      assert.equal(statSync(bs.real(selfish.out) + '/bin/who').ino, before.ino, 'the valid output was not replaced');
      assert.equal(readFileSync(bs.real(selfish.out) + '/bin/who', 'utf8'), `I am ${selfish.out}, I use ${dep.out}\n`);
      assert.equal((await bs.run(['--verify', '--check-contents'])).code, 0);
    });

    it('fails with exit 104 on a build that writes the time, names the differing file, and keeps OUT.check with -K', async () => {
      const clock = bs.drv('clock', 'mkdir $out; echo stable > $out/stable; date > $out/time; cat /proc/uptime >> $out/time');
      await bs.write([clock]);
      assert.equal((await bs.run([...opts, '-r', clock.drvPath])).code, 0);
      const original = readFileSync(bs.real(clock.out) + '/time', 'utf8');
      const r = await bs.run([...opts, '-r', '--check', '-K', clock.drvPath]);
      assert.equal(r.code, 104, r.stderr);
      assert.match(r.stderr, new RegExp(`error: derivation '${clock.drvPath}' may not be deterministic: output '${clock.out}' differs from '${clock.out}.check'\n  'time': contents differ`));
      assert.doesNotMatch(r.stderr, /'stable'/);
      assert.equal(readFileSync(bs.real(clock.out) + '/time', 'utf8'), original, 'the valid output is untouched');
      assert.notEqual(readFileSync(bs.real(clock.out) + '.check/time', 'utf8'), original);
      const again = await bs.run([...opts, '-r', '--check', clock.drvPath]);
      assert.equal(again.code, 104);
      assert.match(again.stderr, new RegExp(`output '${clock.out}' differs\n`));
    });

    it('refuses to check outputs that are not valid', async () => {
      const never = bs.drv('never', 'echo > $out');
      await bs.write([never]);
      const r = await bs.run([...opts, '-r', '--check', never.drvPath]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /some outputs of '.*' are not valid, so checking is not possible/);
    });
  });

  describe(`--repair (sandbox = ${sandbox})`, function () {
    this.timeout(120000);
    let bs: BuildStore;
    const opts = ['--option', 'sandbox', sandbox];
    beforeEach(async () => {
      bs = await BuildStore.create({ inPlace: sandbox === 'false' });
    });
    afterEach(() => bs.remove());

    async function built(): Promise<{ lib: ReturnType<BuildStore['drv']>; app: ReturnType<BuildStore['drv']> }> {
      const lib = bs.drv('lib', 'mkdir $out; echo library > $out/lib.txt; echo $out > $out/self');
      const app = bs.drv('app', `mkdir $out; echo app uses ${lib.out} > $out/app.txt`, [lib]);
      await bs.write([app]);
      assert.equal((await bs.run([...opts, '-r', app.drvPath])).code, 0);
      return { lib, app };
    }

    function makeWritable(path: string): void {
      chmodSync(path, 0o755);
    }

    it('-r --repair restores a deleted file in an input\'s output and leaves the intact one alone', async () => {
      const { lib, app } = await built();
      const appIno = statSync(bs.real(app.out)).ino;
      makeWritable(bs.real(lib.out));
      unlinkSync(bs.real(lib.out) + '/lib.txt');
      assert.notEqual((await bs.run(['--verify-path', lib.out])).code, 0);
      const r = await bs.run([...opts, '-r', '--repair', app.drvPath]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, new RegExp(`repairing path '${lib.out}'`));
      assert.equal(readFileSync(bs.real(lib.out) + '/lib.txt', 'utf8'), 'library\n');
      assert.equal(readFileSync(bs.real(lib.out) + '/self', 'utf8'), `${lib.out}\n`);
      assert.equal(statSync(bs.real(app.out)).ino, appIno, 'the intact output was not rebuilt');
      assert.equal((await bs.run(['--verify', '--check-contents'])).code, 0);
    });

    it('--repair-path restores a corrupted file through the path\'s deriver', async () => {
      const { lib } = await built();
      const file = bs.real(lib.out) + '/lib.txt';
      chmodSync(file, 0o644);
      writeFileSync(file, 'corrupted\n');
      const r = await bs.run([...opts, '--repair-path', lib.out]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(readFileSync(file, 'utf8'), 'library\n');
      assert.equal(statSync(file).mode & 0o777, 0o444);
      assert.equal((await bs.run(['--verify-path', lib.out])).code, 0);
    });

    it('--verify --check-contents --repair finds and repairs a corrupted file and a deleted output', async () => {
      const { lib, app } = await built();
      const file = bs.real(app.out) + '/app.txt';
      chmodSync(file, 0o644);
      writeFileSync(file, 'tampered\n');
      makeWritable(bs.real(lib.out));
      rmSync(bs.real(lib.out), { recursive: true });
      const r = await bs.run([...opts, '--verify', '--check-contents', '--repair']);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, new RegExp(`path '${app.out}' was modified!`));
      assert.match(r.stderr, new RegExp(`path '${lib.out}' disappeared, but it still has valid referrers!`));
      assert.ok(existsSync(bs.real(lib.out) + '/lib.txt'));
      assert.equal(readFileSync(file, 'utf8'), `app uses ${lib.out}\n`);
      const verify = await bs.run(['--verify', '--check-contents']);
      assert.equal(verify.code, 0, verify.stderr);
    });
  });
}
