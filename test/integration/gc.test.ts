/**
 * `--gc`, `--delete` and `-q --roots` as a user sees them: which roots keep what, what is
 * printed, and that neither a kill in the middle nor a build running beside a collection
 * ever leaves a valid path without its content.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BuildStore } from '../support/buildStore.js';
import { TSNIX_STORE, tempDir } from '../support/cli.js';

function lines(text: string | Buffer): string[] {
  return text.toString().split('\n').filter((l) => l !== '');
}

/** A process that names `path` in its environment (a runtime root) until it is killed. */
function holder(path: string): ChildProcess {
  return spawn('sleep', ['600'], { env: { ...process.env, HELD: path }, stdio: 'ignore' });
}

describe('tsnix-store --gc', function () {
  this.timeout(180000);
  let bs: BuildStore;
  const gcroots = (): string => join(bs.root, 'nix/var/nix/gcroots');

  beforeEach(async () => {
    bs = await BuildStore.create();
  });
  afterEach(() => bs.remove());

  /** lib <- app (app refers to lib), and an unrelated `other`. */
  async function graph(): Promise<{ lib: ReturnType<BuildStore['drv']>; app: ReturnType<BuildStore['drv']>; other: ReturnType<BuildStore['drv']> }> {
    const lib = bs.drv('lib', 'echo lib-content > $out');
    const app = bs.drv('app', `mkdir $out; echo "uses ${lib.out}" > $out/uses`, [lib]);
    const other = bs.drv('other', 'echo other > $out');
    await bs.write([app, other]);
    const r = await bs.run(['-r', app.drvPath, other.drvPath]);
    assert.equal(r.code, 0, r.stderr);
    return { lib, app, other };
  }

  async function valid(path: string): Promise<boolean> {
    return (await bs.run(['--check-validity', path])).code === 0;
  }

  it('keeps the closure of a direct root, the derivations of live outputs, and deletes the rest, telling nix\'s line', async () => {
    const { lib, app, other } = await graph();
    symlinkSync(app.out, join(gcroots(), 'app-root'));
    const r = await bs.run(['--gc']);
    assert.equal(r.code, 0, r.stderr);
    const [line] = lines(r.stdout);
    assert.match(line!, /^\d+ store paths deleted, \d+\.\d\d MiB freed$/);
    assert.match(r.stderr, /finding garbage collector roots\.\.\./);
    assert.match(r.stderr, new RegExp(`deleting '${other.out}'`));
    for (const p of [app.out, lib.out, app.drvPath, lib.drvPath, bs.busybox]) assert.ok(await valid(p), `${p} is live`);
    for (const p of [other.out, other.drvPath]) {
      assert.equal(await valid(p), false, `${p} is garbage`);
      assert.equal(existsSync(bs.real(p)), false);
    }
    // Deleted paths were counted: other and its derivation.
    assert.equal(Number(line!.split(' ')[0]), 2);
    assert.equal((await bs.run(['--verify', '--check-contents'])).code, 0);
    // A second collection finds nothing.
    assert.equal(lines((await bs.run(['--gc'])).stdout)[0], '0 store paths deleted, 0.00 MiB freed');
  });

  it('without keep-derivations a live output does not keep its derivation', async () => {
    const { app } = await graph();
    symlinkSync(app.out, join(gcroots(), 'app-root'));
    assert.equal((await bs.run(['--option', 'keep-derivations', 'false', '--gc'])).code, 0);
    assert.ok(await valid(app.out));
    assert.equal(await valid(app.drvPath), false);
  });

  it('finds roots of every kind: direct, indirect (dropped with its target), base-name files, per-user, profiles, runtime', async () => {
    const lib = bs.drv('lib', 'echo lib > $out');
    const names = ['direct', 'indirect', 'file', 'peruser', 'profile', 'runtime', 'none'];
    const drvs = names.map((n) => bs.drv(n, `echo ${n} > $out`));
    await bs.write([lib, ...drvs]);
    assert.equal((await bs.run(['-r', ...drvs.map((d) => d.drvPath)])).code, 0);
    const [direct, indirect, file, peruser, profile, runtime, none] = drvs.map((d) => d.out);
    const work = tempDir();
    symlinkSync(direct!, join(gcroots(), 'direct'));
    // --add-root makes the indirect kind: work/result -> store path, gcroots/auto/… -> work/result.
    const add = await bs.run(['-r', '--add-root', join(work, 'result'), drvs[1]!.drvPath]);
    assert.equal(add.code, 0, add.stderr);
    assert.equal(readdirSync(join(gcroots(), 'auto')).length, 1);
    writeFileSync(join(gcroots(), file!.slice('/nix/store/'.length)), '');
    mkdirSync(join(gcroots(), 'per-user/alice'), { recursive: true });
    symlinkSync(peruser!, join(gcroots(), 'per-user/alice/something'));
    mkdirSync(join(bs.root, 'nix/var/nix/profiles/per-user/alice'), { recursive: true });
    symlinkSync(profile!, join(bs.root, 'nix/var/nix/profiles/per-user/alice/profile-1-link'));
    const proc = holder(runtime!);
    try {
      await new Promise((resolve) => setTimeout(resolve, 200));
      const roots = await bs.run(['--gc', '--print-roots']);
      assert.equal(roots.code, 0, roots.stderr);
      const printed = lines(roots.stdout);
      for (const expected of [
        `${join(gcroots(), 'direct')} -> ${direct}`,
        `${join(work, 'result')} -> ${indirect}`,
        `${join(gcroots(), file!.slice('/nix/store/'.length))} -> ${file}`,
        `${join(gcroots(), 'per-user/alice/something')} -> ${peruser}`,
        `${join(bs.root, 'nix/var/nix/profiles/per-user/alice/profile-1-link')} -> ${profile}`,
        `/proc/${proc.pid}/environ -> ${runtime}`,
      ]) {
        assert.ok(printed.includes(expected), `${expected} in\n${printed.join('\n')}`);
      }
      assert.ok(!printed.some((l) => l.endsWith(none!)));
      assert.deepEqual(printed, [...printed].sort(), 'sorted by link');

      const dead = lines((await bs.run(['--gc', '--print-dead'])).stdout);
      assert.ok(dead.includes(none!));
      const live = lines((await bs.run(['--gc', '--print-live'])).stdout);
      for (const p of [direct, indirect, file, peruser, profile, runtime]) assert.ok(live.includes(p!), `${p} live`);
      assert.ok(!live.includes(none!));
      assert.ok(!dead.some((p) => live.includes(p)));

      assert.equal((await bs.run(['--gc'])).code, 0);
      for (const p of [direct, indirect, file, peruser, profile, runtime]) assert.ok(await valid(p!), `${p} kept`);
      assert.equal(await valid(none!), false);
    } finally {
      proc.kill('SIGKILL');
    }
    await new Promise((resolve) => proc.once('exit', resolve));
    // The runtime root is gone with its process; the indirect one with its target, whose
    // link under auto/ the collector removes.
    rmSync(join(work, 'result'));
    const r = await bs.run(['--gc']);
    assert.match(r.stderr, /removing stale link from '.*\/gcroots\/auto\/[0-9a-z]+' to '.*\/result'/);
    assert.deepEqual(readdirSync(join(gcroots(), 'auto')), []);
    assert.equal(await valid(runtime!), false);
    assert.equal(await valid(indirect!), false);
    for (const p of [direct, file, peruser, profile]) assert.ok(await valid(p!), `${p} still kept`);
  });

  it('-q --roots tells what keeps a path, through keep-outputs when it is on', async () => {
    const { lib, app } = await graph();
    symlinkSync(app.drvPath, join(gcroots(), 'drv-root'));
    const link = `${join(gcroots(), 'drv-root')} -> ${app.drvPath}`;
    // Only the derivation is a root: its output is kept only with keep-outputs.
    assert.deepEqual(lines((await bs.run(['-q', '--roots', app.drvPath])).stdout), [link]);
    assert.deepEqual(lines((await bs.run(['-q', '--roots', app.out])).stdout), []);
    assert.deepEqual(lines((await bs.run(['--option', 'keep-outputs', 'true', '-q', '--roots', app.out])).stdout), [link]);
    assert.deepEqual(lines((await bs.run(['--option', 'keep-outputs', 'true', '-q', '--roots', lib.out])).stdout), [link]);
    // And the collector agrees.
    assert.equal((await bs.run(['--option', 'keep-outputs', 'true', '--gc'])).code, 0);
    assert.ok(await valid(app.out));
    assert.equal((await bs.run(['--gc'])).code, 0);
    assert.equal(await valid(app.out), false);
    assert.ok(await valid(app.drvPath));
  });

  it('--delete refuses a live path with nix\'s message and deletes a dead one', async () => {
    const { lib, app, other } = await graph();
    symlinkSync(app.out, join(gcroots(), 'app-root'));
    const refused = await bs.run(['--delete', lib.out]);
    assert.equal(refused.code, 1);
    assert.equal(refused.stdout.toString(), '0 store paths deleted, 0.00 MiB freed\n');
    assert.match(refused.stderr, new RegExp(`error: Cannot delete path '${lib.out}' since it is still alive\\. To find out why, use: nix-store --query --roots\n`));
    assert.ok(await valid(lib.out));
    const deleted = await bs.run(['--delete', other.out]);
    assert.equal(deleted.code, 0, deleted.stderr);
    assert.equal(deleted.stdout.toString(), '1 store paths deleted, 0.00 MiB freed\n');
    assert.equal(await valid(other.out), false);
    assert.equal(existsSync(bs.real(other.out)), false);
  });

  it('--max-freed stops once enough is freed, leaving the rest valid', async () => {
    const drvs = Array.from({ length: 6 }, (_, i) => bs.drv(`big${i}`, `head -c 300000 /dev/zero > $out; echo ${i} >> $out`));
    await bs.write(drvs);
    assert.equal((await bs.run(['-r', ...drvs.map((d) => d.drvPath)])).code, 0);
    const r = await bs.run(['--gc', '--max-freed', '500000']);
    assert.equal(r.code, 0, r.stderr);
    const [count, , , , mib] = lines(r.stdout)[0]!.split(' ');
    assert.ok(Number(mib) >= 0.47 && Number(mib) < 0.9, `freed ${mib} MiB`);
    assert.ok(Number(count) < 12);
    const left = (await Promise.all(drvs.map((d) => valid(d.out)))).filter(Boolean).length;
    assert.ok(left >= 3 && left <= 5, `${left} outputs left`);
    assert.equal((await bs.run(['--verify', '--check-contents'])).code, 0);
  });

  it('killed with SIGKILL in the middle of deleting, leaves a store that verifies, and the next collection finishes', async () => {
    // Enough garbage that the collection is still deleting when the kill arrives.
    const sources = tempDir();
    const dirs = Array.from({ length: 3000 }, (_, i) => {
      const dir = join(sources, `dead${i}`);
      mkdirSync(join(dir, 'sub'), { recursive: true });
      for (let f = 0; f < 8; f++) writeFileSync(join(dir, 'sub', `f${f}`), `${i}:${f}\n`);
      return dir;
    });
    const added = await bs.run(['--add', ...dirs]);
    assert.equal(added.code, 0, added.stderr);
    const many = lines(added.stdout);
    const keep = bs.drv('keep', 'echo keep > $out');
    await bs.write([keep]);
    assert.equal((await bs.run(['-r', keep.drvPath])).code, 0);
    symlinkSync(keep.out, join(gcroots(), 'keep'));
    const child = spawn(TSNIX_STORE, ['--store', bs.root, '--gc'], { env: { ...process.env, TSNIX_CONF_DIR: '/nonexistent' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let deletions = 0;
    await new Promise<void>((resolve) => {
      child.stderr!.on('data', (chunk: Buffer) => {
        deletions += (chunk.toString().match(/deleting '/g) ?? []).length;
        if (deletions > 0 && child.exitCode === null && !child.killed) {
          child.kill('SIGKILL');
        }
      });
      child.once('exit', () => resolve());
    });
    assert.equal(child.signalCode, 'SIGKILL', 'killed before it finished');
    const verify = await bs.run(['--verify', '--check-contents']);
    assert.equal(verify.code, 0, verify.stderr);
    assert.doesNotMatch(verify.stderr, /was modified|disappeared|error/);
    const stillValid = lines((await bs.run(['--check-validity', '--print-invalid', ...many])).stdout);
    const remaining = many.length - stillValid.length;
    assert.ok(remaining > 0 && remaining < many.length, `${remaining} of ${many.length} still valid after the kill`);
    const finish = await bs.run(['--gc']);
    assert.equal(finish.code, 0, finish.stderr);
    for (const p of many) assert.equal(existsSync(bs.real(p)), false);
    assert.equal(existsSync(join(bs.root, 'nix/store/trash')), false, 'the trash is emptied');
    assert.ok(await valid(keep.out));
    assert.equal((await bs.run(['--verify', '--check-contents'])).code, 0);
  });

  it('a build running beside a collection keeps its inputs and its outputs, and succeeds', async () => {
    const lib = bs.drv('lib', 'mkdir $out; echo lib > $out/data');
    await bs.write([lib]);
    assert.equal((await bs.run(['-r', lib.drvPath])).code, 0);
    // lib is garbage now: nothing roots it. The build below uses it after the collection.
    const slow = bs.drv('slow', `echo started; sleep 3; cat ${lib.out}/data > $out`, [lib]);
    await bs.write([slow]);
    const build = spawn(TSNIX_STORE, ['--store', bs.root, '-r', slow.drvPath], { env: { ...process.env, TSNIX_CONF_DIR: '/nonexistent' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    build.stdout!.on('data', (c: Buffer) => (stdout += c.toString()));
    const started = new Promise<void>((resolve) =>
      build.stderr!.on('data', (c: Buffer) => {
        stderr += c.toString();
        if (stderr.includes('started')) resolve();
      }),
    );
    const exited = new Promise<number | null>((resolve) => build.once('exit', resolve));
    await started;
    const gc = await bs.run(['--gc']);
    assert.equal(gc.code, 0, gc.stderr);
    assert.doesNotMatch(gc.stderr, new RegExp(`deleting '(${lib.out}|${slow.drvPath}|${lib.drvPath})'`));
    assert.equal(await exited, 0, stderr);
    assert.equal(stdout, `${slow.out}\n`);
    assert.ok(await valid(slow.out));
    assert.equal((await bs.run(['--verify', '--check-contents'])).code, 0);
  });

  it('run by a user who owns the store, not root, deletes read-only paths and their read-only directories', async function () {
    if (process.getuid?.() !== 0) this.skip();
    const { app } = await graph();
    const tree = bs.drv('tree', 'mkdir -p $out/a/b; echo deep > $out/a/b/f');
    await bs.write([tree]);
    assert.equal((await bs.run(['-r', tree.drvPath])).code, 0);
    symlinkSync(app.out, join(gcroots(), 'app-root'));
    const nobody = 65534;
    execFileSync('chown', ['-R', `${nobody}:${nobody}`, bs.root]);
    const r = spawnSync('setpriv', [`--reuid=${nobody}`, `--regid=${nobody}`, '--clear-groups', TSNIX_STORE, '--store', bs.root, '--gc'], {
      encoding: 'utf8',
      env: { ...process.env, TSNIX_CONF_DIR: '/nonexistent' },
    });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^4 store paths deleted/);
    assert.equal(existsSync(bs.real(tree.out)), false);
    assert.ok(await valid(app.out));
    assert.equal((await bs.run(['--verify', '--check-contents'])).code, 0);
  });
});
