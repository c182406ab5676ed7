/** Build logs (filtered, stored where nix keeps them, read back with -l) and the pre-build hook. */
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BuildStore } from '../../support/buildStore.js';

describe('tsnix-store -r: build logs', function () {
  this.timeout(120000);
  let bs: BuildStore;
  beforeEach(async () => {
    bs = await BuildStore.create();
  });
  afterEach(() => bs.remove());

  // A title (OSC), stdenv's nesting marks, a cursor move, an erase, and colour.
  const NOISY = String.raw`printf '\033]0;my title\007plain\n\033[pnested\033[q\n\033[2Aup\033[K\n\033[31mred\033[0m\n'; echo ok > $out`;

  it('strips escape sequences other than colour from the terminal output and from the stored log', async () => {
    const noisy = bs.drv('noisy', NOISY);
    await bs.write([noisy]);
    // As nix: colour only when it is wanted (FORCE_COLOR here, a terminal otherwise).
    const r = await bs.run(['-r', noisy.drvPath], { FORCE_COLOR: '1' });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /\nplain\nnested\nup\n\x1b\[31mred\x1b\[0m\n/);
    assert.doesNotMatch(r.stderr, /my title|\x1b\[[pq2]|\x1b\[K/);
    const other = bs.drv('noisy2', NOISY);
    await bs.write([other]);
    const plain = await bs.run(['-r', other.drvPath], { NO_COLOR: '1', FORCE_COLOR: '1' });
    assert.equal(plain.code, 0, plain.stderr);
    assert.match(plain.stderr, /\nplain\nnested\nup\nred\n/);
    assert.doesNotMatch(plain.stderr, /\x1b/, 'NO_COLOR: no escape sequence at all');
    const log = await bs.run(['-l', noisy.drvPath]);
    assert.equal(log.code, 0, log.stderr);
    assert.equal(log.stdout.toString(), 'plain\nnested\nup\n\x1b[31mred\x1b[0m\n');
    const base = noisy.drvPath.slice(noisy.drvPath.lastIndexOf('/') + 1);
    assert.ok(existsSync(join(bs.root, 'nix/var/log/nix/drvs', base.slice(0, 2), `${base.slice(2)}.bz2`)), 'compressed where nix keeps logs');
  });

  it('compress-build-log = false stores the log plain; -l reads it through an output path too', async () => {
    const noisy = bs.drv('plainlog', 'echo one; echo two; echo > $out');
    await bs.write([noisy]);
    assert.equal((await bs.run(['-r', '--option', 'compress-build-log', 'false', noisy.drvPath])).code, 0);
    const base = noisy.drvPath.slice(noisy.drvPath.lastIndexOf('/') + 1);
    assert.equal(readFileSync(join(bs.root, 'nix/var/log/nix/drvs', base.slice(0, 2), base.slice(2)), 'utf8'), 'one\ntwo\n');
    assert.equal((await bs.run(['-l', noisy.out])).stdout.toString(), 'one\ntwo\n');
  });

  it('a failed build keeps its log', async () => {
    const bad = bs.drv('badlog', 'echo why it failed; exit 1');
    await bs.write([bad]);
    assert.equal((await bs.run(['-r', bad.drvPath])).code, 100);
    assert.equal((await bs.run(['-l', bad.drvPath])).stdout.toString(), 'why it failed\n');
  });
});

describe('tsnix-store -r: the pre-build hook', function () {
  this.timeout(120000);
  let bs: BuildStore;
  let dir: string;
  beforeEach(async () => {
    bs = await BuildStore.create();
    dir = mkdtempSync('/tmp/tsnix-hook-');
    chmodSync(dir, 0o755);
  });
  afterEach(() => {
    bs.remove();
    rmSync(dir, { recursive: true, force: true });
  });

  function hook(body: string): string {
    const path = join(dir, 'hook');
    writeFileSync(path, `#!/bin/sh\n${body}\n`);
    chmodSync(path, 0o755);
    return path;
  }

  it('adds the paths it prints after extra-sandbox-paths to that build, and gets the .drv and the sandbox directory', async () => {
    writeFileSync(join(dir, 'secret'), 'from the hook\n');
    chmodSync(join(dir, 'secret'), 0o644);
    const args = join(dir, 'args');
    const h = hook(`echo "$@" > ${args}\necho extra-sandbox-paths\necho /hooked=${dir}/secret\necho`);
    const user = bs.drv('hooked', 'cat /hooked > $out');
    await bs.write([user]);
    const r = await bs.run(['-r', '--option', 'pre-build-hook', h, user.drvPath]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(readFileSync(bs.real(user.out), 'utf8'), 'from the hook\n');
    const [drvArg, sandboxArg] = readFileSync(args, 'utf8').trim().split(' ');
    assert.equal(drvArg, user.drvPath);
    // A build directory of its own, or a sandbox kept between builds (as root).
    assert.match(sandboxArg ?? '', /(nix-build-hooked-|tsnix-sandbox-).*\/root$/);
    // Without the hook the path is not there, so the build fails.
    const without = bs.drv('unhooked', 'cat /hooked > $out');
    await bs.write([without]);
    assert.equal((await bs.run(['-r', without.drvPath])).code, 100);
  });

  it('a failing hook fails the build with its message', async () => {
    const h = hook('echo "cannot prepare the build" >&2\nexit 4');
    const user = bs.drv('hookfails', 'echo > $out');
    await bs.write([user]);
    const r = await bs.run(['-r', '--option', 'pre-build-hook', h, user.drvPath]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /cannot prepare the build/);
    assert.notEqual((await bs.run(['--check-validity', user.out])).code, 0);
  });
});
