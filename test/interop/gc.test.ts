/**
 * Garbage collection beside real nix 2.8 on one store: both find the same roots and the same
 * live and dead paths, a real `nix-store --gc` on a store tsnix wrote keeps everything
 * tsnix's roots keep, and each collector honours the temp roots of the other's running build.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BuildStore } from '../support/buildStore.js';
import { TSNIX_STORE, tempDir } from '../support/cli.js';
import { nixOk, requireNix, runNix } from '../support/nix.js';

function lines(text: string | Buffer): string[] {
  return text.toString().split('\n').filter((l) => l !== '');
}

describe('interop: garbage collection with real nix', function () {
  this.timeout(180000);
  let nixStore: string;
  let bs: BuildStore;
  before(function () {
    nixStore = requireNix(this);
  });
  beforeEach(async () => {
    bs = await BuildStore.create();
  });
  afterEach(() => bs.remove());

  const gcroots = (): string => join(bs.root, 'nix/var/nix/gcroots');
  const nix = (args: string[]): string => nixOk(nixStore, ['--store', bs.root, ...args]);

  it('finds the same roots, live and dead paths as nix-store, and nix --gc keeps what tsnix keeps', async () => {
    const leaf = bs.drv('leaf', 'echo leaf > $out');
    const mid = bs.drv('mid', `mkdir $out; echo ${leaf.out} > $out/ref`, [leaf]);
    const names = ['direct', 'indirect', 'file', 'profile', 'dead1', 'dead2'];
    const drvs = names.map((n, i) => bs.drv(n, `mkdir $out; echo ${i} > $out/n${i % 2 === 0 ? `; echo ${mid.out} > $out/uses` : ''}`, i % 2 === 0 ? [mid] : []));
    await bs.write(drvs);
    const built = await bs.run(['-r', ...drvs.map((d) => d.drvPath)]);
    assert.equal(built.code, 0, built.stderr);
    const [direct, , file, profile] = drvs.map((d) => d.out);
    const work = tempDir();
    symlinkSync(direct!, join(gcroots(), 'direct'));
    assert.equal((await bs.run(['-r', '--add-root', join(work, 'result'), drvs[1]!.drvPath])).code, 0);
    writeFileSync(join(gcroots(), file!.slice('/nix/store/'.length)), '');
    mkdirSync(join(bs.root, 'nix/var/nix/profiles/per-user/alice'), { recursive: true });
    symlinkSync(profile!, join(bs.root, 'nix/var/nix/profiles/per-user/alice/profile-1-link'));

    const ours = (args: string[]): Promise<string[]> => bs.run(args).then((r) => (assert.equal(r.code, 0, r.stderr), lines(r.stdout)));
    // Runtime roots differ with the processes each sees; none of this store's paths is in use.
    assert.deepEqual(await ours(['--gc', '--print-roots']), lines(nix(['--gc', '--print-roots'])));
    const live = await ours(['--gc', '--print-live']);
    assert.deepEqual(live, lines(nix(['--gc', '--print-live'])));
    const dead = await ours(['--gc', '--print-dead']);
    assert.deepEqual(dead, lines(nix(['--gc', '--print-dead'])));
    for (const p of [drvs[4]!.out, drvs[5]!.out]) assert.ok(dead.includes(p));
    assert.ok(live.includes(mid.out) && live.includes(leaf.out) && live.includes(drvs[0]!.drvPath));
    for (const option of ['keep-outputs', 'keep-derivations']) {
      const value = option === 'keep-outputs' ? 'true' : 'false';
      assert.deepEqual(await ours(['--option', option, value, '--gc', '--print-live']), lines(nix(['--option', option, value, '--gc', '--print-live'])), option);
    }

    // Real nix collects the store tsnix wrote: everything live stays, intact.
    const collected = runNix(nixStore, ['--store', bs.root, '--gc']);
    assert.equal(collected.status, 0, collected.stderr);
    const valid = nix(['--check-validity', '--print-invalid', ...live]);
    assert.equal(valid, '', 'every path tsnix calls live survives nix --gc');
    assert.equal(lines(nix(['--check-validity', '--print-invalid', ...dead])).length, dead.length);
    const verify = await bs.run(['--verify', '--check-contents']);
    assert.equal(verify.code, 0, verify.stderr);
    assert.deepEqual(await ours(['--gc', '--print-dead']), []);
  });

  it('tsnix collects a store nix built in, and nix-store --verify --check-contents accepts it', async () => {
    const keep = bs.drv('keep', 'echo keep > $out');
    const drop = bs.drv('drop', 'echo drop > $out');
    await bs.write([keep, drop]);
    const built = runNix(nixStore, ['--store', bs.root, '--option', 'substituters', '', '--option', 'sandbox', 'true', '-r', keep.drvPath, drop.drvPath]);
    assert.equal(built.status, 0, built.stderr);
    symlinkSync(keep.out, join(gcroots(), 'keep'));
    const r = await bs.run(['--gc']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(runNix(nixStore, ['--store', bs.root, '--check-validity', keep.out]).status, 0);
    assert.notEqual(runNix(nixStore, ['--store', bs.root, '--check-validity', drop.out]).status, 0);
    const verify = runNix(nixStore, ['--store', bs.root, '--verify', '--check-contents']);
    assert.equal(verify.status, 0, verify.stderr);
    assert.doesNotMatch(verify.stderr, /error|modified|disappeared/);
  });

  it('counts what it frees as nix does, on an optimised store too', async () => {
    const src = tempDir();
    const trees = [1, 2, 3].map((i) => {
      const dir = join(src, `t${i}`);
      mkdirSync(dir);
      writeFileSync(join(dir, 'shared'), Buffer.alloc(1 << 20, 1));
      writeFileSync(join(dir, 'own'), Buffer.alloc(100000 * i, i));
      return dir;
    });
    const added = await bs.run(['--add', ...trees]);
    assert.equal(added.code, 0, added.stderr);
    const [first, second] = lines(added.stdout);
    assert.equal((await bs.run(['--optimise'])).code, 0);
    const theirs = join(tempDir(), 'copy');
    execFileSync('cp', ['-a', bs.root, theirs]);
    for (const args of [['--delete', first!], ['--delete', second!], ['--gc']]) {
      const ours = await bs.run(args);
      const nixs = runNix(nixStore, ['--store', theirs, ...args]);
      assert.equal(ours.code, 0, ours.stderr);
      assert.equal(nixs.status, 0, nixs.stderr);
      assert.equal(ours.stdout.toString(), nixs.stdout, args.join(' '));
    }
  });

  /** Starts `command`, resolving once its stderr shows `marker`; then awaits its exit. */
  function startUntil(command: string, args: string[], marker: string): { started: Promise<void>; exited: Promise<{ code: number | null; stderr: string }> } {
    const child = spawn(command, args, { env: { ...process.env, TSNIX_CONF_DIR: '/nonexistent', NIX_CONF_DIR: '/nonexistent', NIX_REMOTE: '' }, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    const started = new Promise<void>((resolve) => {
      child.stderr!.on('data', (c: Buffer) => {
        stderr += c.toString();
        if (stderr.includes(marker)) resolve();
      });
    });
    const exited = new Promise<{ code: number | null; stderr: string }>((resolve) => child.once('exit', (code) => resolve({ code, stderr })));
    return { started: Promise.race([started, exited.then(() => undefined)]), exited };
  }

  it('honours the temp roots of a real nix build running beside it', async () => {
    const lib = bs.drv('lib', 'mkdir $out; echo lib > $out/data');
    await bs.write([lib]);
    assert.equal((await bs.run(['-r', lib.drvPath])).code, 0);
    const slow = bs.drv('slow', `echo started-slow; sleep 3; cat ${lib.out}/data > $out`, [lib]);
    await bs.write([slow]);
    const build = startUntil(nixStore, ['--store', bs.root, '--option', 'substituters', '', '--option', 'sandbox', 'true', '-r', slow.drvPath], 'started-slow');
    await build.started;
    const gc = await bs.run(['--gc']);
    assert.equal(gc.code, 0, gc.stderr);
    assert.doesNotMatch(gc.stderr, new RegExp(`deleting '(${lib.out}|${lib.drvPath}|${slow.drvPath}|${bs.busybox})'`));
    const done = await build.exited;
    assert.equal(done.code, 0, done.stderr);
    assert.equal(runNix(nixStore, ['--store', bs.root, '--check-validity', slow.out]).status, 0);
  });

  it('real nix --gc honours the temp roots of a tsnix build running beside it', async () => {
    const lib = bs.drv('lib', 'mkdir $out; echo lib > $out/data');
    await bs.write([lib]);
    assert.equal((await bs.run(['-r', lib.drvPath])).code, 0);
    const slow = bs.drv('slow', `echo started-slow; sleep 3; cat ${lib.out}/data > $out`, [lib]);
    await bs.write([slow]);
    const build = startUntil(TSNIX_STORE, ['--store', bs.root, '-r', slow.drvPath], 'started-slow');
    await build.started;
    const gc = runNix(nixStore, ['--store', bs.root, '--gc']);
    assert.equal(gc.status, 0, gc.stderr);
    assert.doesNotMatch(gc.stderr, new RegExp(`deleting '(${lib.out}|${lib.drvPath}|${slow.drvPath}|${bs.busybox})'`));
    const done = await build.exited;
    assert.equal(done.code, 0, done.stderr);
    assert.equal((await bs.run(['--check-validity', slow.out])).code, 0);
    assert.equal((await bs.run(['--verify', '--check-contents'])).code, 0);
  });
});
