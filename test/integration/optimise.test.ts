/**
 * `--optimise` and `auto-optimise-store`: identical files become one inode through `.links/`,
 * nothing a reader can see changes, a second run has nothing left to do, and the collector
 * drops `.links/` entries nothing uses any more. Real nix agrees with the result.
 */
import assert from 'node:assert/strict';
import { chmodSync, existsSync, linkSync, lstatSync, mkdirSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TSNIX_STORE, tempDir, tsnixStore } from '../support/cli.js';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { nixOk, requireNix, runNix } from '../support/nix.js';

function lines(text: string | Buffer): string[] {
  return text.toString().split('\n').filter((l) => l !== '');
}

/** Three trees sharing `shared/*` and `empty`, each with its own file; one shared file is executable in one tree. */
function sources(): string[] {
  const dir = tempDir();
  return [1, 2, 3].map((i) => {
    const tree = join(dir, `tree${i}`);
    mkdirSync(join(tree, 'shared/deeper'), { recursive: true });
    writeFileSync(join(tree, 'shared/common'), 'the same in every tree\n');
    writeFileSync(join(tree, 'shared/deeper/big'), Buffer.alloc(200000, 7));
    writeFileSync(join(tree, 'own'), `only in tree ${i}\n`);
    writeFileSync(join(tree, 'tool'), '#!/bin/sh\necho same bytes\n');
    if (i === 3) chmodSync(join(tree, 'tool'), 0o755);
    symlinkSync('shared/common', join(tree, 'link'));
    return tree;
  });
}

describe('tsnix-store --optimise', function () {
  this.timeout(120000);
  let root: string;
  let paths: string[];
  const run = (args: string[]) => tsnixStore(['--store', root, ...args]);
  const real = (p: string, file: string): string => join(root, p, file);

  beforeEach(async () => {
    root = tempDir('tsnix-optimise-');
    const r = await run(['--add', ...sources()]);
    assert.equal(r.code, 0, r.stderr);
    paths = lines(r.stdout);
  });
  afterEach(() => {
    // The store is read-only (and one test leaves 65,000 links in it).
    execFileSync('chmod', ['-R', 'u+w', root]);
    rmSync(root, { recursive: true, force: true });
  });

  it('links identical files to one inode, keeps contents, modes and times, and a second run frees nothing', async () => {
    const hashes = lines((await run(['-q', '--hash', ...paths])).stdout);
    const dumps = await Promise.all(paths.map(async (p) => (await run(['--dump', p])).stdout));
    const r = await run(['--optimise']);
    assert.equal(r.code, 0, r.stderr);
    // common, big and the symlink in trees 2 and 3 become links to tree 1's: 6 files; the
    // plain tool of tree 2 joins tree 1's: 7. The executable one stays apart.
    assert.match(r.stderr, /^0\.38 MiB freed by hard-linking 7 files$/m);
    for (const file of ['shared/common', 'shared/deeper/big']) {
      const inodes = new Set(paths.map((p) => statSync(real(p, file)).ino));
      assert.equal(inodes.size, 1, `${file} is one inode`);
      assert.equal(statSync(real(paths[0]!, file)).nlink, 4, `three paths and .links share ${file}`);
    }
    assert.equal(statSync(real(paths[0]!, 'tool')).ino, statSync(real(paths[1]!, 'tool')).ino);
    assert.notEqual(statSync(real(paths[0]!, 'tool')).ino, statSync(real(paths[2]!, 'tool')).ino, 'an executable file is not the same NAR');
    assert.equal(new Set(paths.map((p) => statSync(real(p, 'own')).ino)).size, 3);
    for (const p of paths) {
      for (const dir of ['', 'shared', 'shared/deeper']) {
        const st = statSync(real(p, dir));
        assert.equal(st.mode & 0o7777, 0o555, `${dir || 'top'} is read-only again`);
        assert.equal(st.mtimeMs, 1000, `${dir || 'top'} has the store's time again`);
      }
    }
    assert.deepEqual(lines((await run(['-q', '--hash', ...paths])).stdout), hashes);
    const after = await Promise.all(paths.map(async (p) => (await run(['--dump', p])).stdout));
    after.forEach((nar, i) => assert.ok(nar.equals(dumps[i]!), `the NAR of ${paths[i]} is unchanged`));
    assert.equal((await run(['--verify', '--check-contents'])).code, 0);

    const again = await run(['--optimise']);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stderr, /^0\.00 MiB freed by hard-linking 0 files$/m);
  });

  it('auto-optimise-store links files as paths are added', async () => {
    const autoRoot = tempDir('tsnix-auto-optimise-');
    const r = await tsnixStore(['--store', autoRoot, '--option', 'auto-optimise-store', 'true', '--add', ...sources()]);
    assert.equal(r.code, 0, r.stderr);
    const added = lines(r.stdout);
    assert.equal(new Set(added.map((p) => statSync(join(autoRoot, p, 'shared/common')).ino)).size, 1);
    assert.equal(statSync(join(autoRoot, added[0]!, 'shared/common')).nlink, 4);
    assert.equal(statSync(join(autoRoot, added[0]!)).mode & 0o7777, 0o555);
    const later = await tsnixStore(['--store', autoRoot, '--optimise']);
    assert.match(later.stderr, /^0\.00 MiB freed by hard-linking 0 files$/m);
    assert.equal((await tsnixStore(['--store', autoRoot, '--verify', '--check-contents'])).code, 0);
  });

  it('the collector removes the .links entries of deleted paths and keeps those still in use', async () => {
    assert.equal((await run(['--optimise'])).code, 0);
    const linksDir = join(root, 'nix/store/.links');
    const before = readdirSync(linksDir).length;
    const deleted = await run(['--delete', paths[0]!, paths[1]!]);
    assert.equal(deleted.code, 0, deleted.stderr);
    // tree 1's own file and the plain tool (tree 3's is executable) lose their last user.
    const remaining = readdirSync(linksDir);
    assert.equal(remaining.length, before - 3, `${before} -> ${remaining.length}`);
    for (const name of remaining) assert.ok(lstatSync(join(linksDir, name)).nlink >= 2);
    assert.equal((await run(['--verify', '--check-contents'])).code, 0);
  });

  it('run by a user who owns the store, not root, links inside read-only directories and makes them read-only again', async function () {
    if (process.getuid?.() !== 0) this.skip();
    const nobody = 65534;
    chmodSync(root, 0o755);
    execFileSync('chown', ['-R', `${nobody}:${nobody}`, root]);
    const r = spawnSync('setpriv', [`--reuid=${nobody}`, `--regid=${nobody}`, '--clear-groups', TSNIX_STORE, '--store', root, '--optimise'], {
      encoding: 'utf8',
      env: { ...process.env, TSNIX_CONF_DIR: '/nonexistent' },
    });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /^0\.38 MiB freed by hard-linking 7 files$/m);
    assert.equal(new Set(paths.map((p) => statSync(real(p, 'shared/deeper/big')).ino)).size, 1);
    for (const p of paths) for (const dir of ['', 'shared', 'shared/deeper']) assert.equal(statSync(real(p, dir)).mode & 0o7777, 0o555);
    assert.equal((await run(['--verify', '--check-contents'])).code, 0);
  });

  it('skips a file whose .links entry is at the file system\'s link limit, and goes on', async function () {
    const ext4Limit = 65000;
    assert.equal((await run(['--optimise'])).code, 0);
    // A fourth path with the same `big` file, and its entry saturated with links from elsewhere.
    const fourth = join(tempDir(), 'tree4');
    mkdirSync(join(fourth, 'shared/deeper'), { recursive: true });
    writeFileSync(join(fourth, 'shared/deeper/big'), Buffer.alloc(200000, 7));
    writeFileSync(join(fourth, 'shared/common'), 'the same in every tree\n');
    const added = await run(['--add', fourth]);
    const [path4] = lines(added.stdout);
    const linksDir = join(root, 'nix/store/.links');
    const entry = readdirSync(linksDir).find((name) => lstatSync(join(linksDir, name)).size === 200000)!;
    const holder = join(root, 'link-holder');
    mkdirSync(holder);
    let made = 0;
    try {
      for (; made < ext4Limit; made++) linkSync(join(linksDir, entry), join(holder, String(made)));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EMLINK') throw e;
    }
    if (made === ext4Limit) this.skip(); // a file system without a link limit (tmpfs)
    const r = await run(['--optimise']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, new RegExp(`'${linksDir}/${entry}' has maximum number of links`));
    // The other file of that path was linked all the same.
    assert.match(r.stderr, /^0\.00 MiB freed by hard-linking 1 files$/m);
    assert.equal(statSync(join(root, path4!, 'shared/common')).ino, statSync(real(paths[0]!, 'shared/common')).ino);
    assert.notEqual(statSync(join(root, path4!, 'shared/deeper/big')).ino, statSync(join(linksDir, entry)).ino);
    assert.equal((await run(['--verify', '--check-contents'])).code, 0);
  });

  it('killed with SIGKILL in the middle leaves every path intact: no temporary link inside one', async () => {
    const src = tempDir();
    const dirs = Array.from({ length: 1500 }, (_, i) => {
      const dir = join(src, `p${i}`);
      mkdirSync(join(dir, 'share'), { recursive: true });
      for (let f = 0; f < 8; f++) writeFileSync(join(dir, 'share', `s${f}`), Buffer.alloc(4096 + f, f));
      writeFileSync(join(dir, 'own'), `own ${i}\n`);
      return dir;
    });
    const added = await run(['--add', ...dirs]);
    assert.equal(added.code, 0, added.stderr);
    const child = spawn(TSNIX_STORE, ['--store', root, '--optimise'], { env: { ...process.env, TSNIX_CONF_DIR: '/nonexistent' }, stdio: 'ignore' });
    const exited = new Promise((resolve) => child.once('exit', resolve));
    // Linking has begun once .links has entries; kill soon after.
    const linksDir = join(root, 'nix/store/.links');
    for (let waited = 0; waited < 20000; waited += 5) {
      if (existsSync(linksDir) && readdirSync(linksDir).length > 20) break;
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    child.kill('SIGKILL');
    await exited;
    assert.equal(child.signalCode, 'SIGKILL', 'killed before it finished');
    const verify = await run(['--verify', '--check-contents']);
    assert.equal(verify.code, 0, verify.stderr);
    const again = await run(['--optimise']);
    assert.equal(again.code, 0, again.stderr);
    assert.equal((await run(['--verify', '--check-contents'])).code, 0);
    // What the killed run left in the store directory is garbage the collector removes.
    assert.equal((await run(['--gc'])).code, 0);
    assert.deepEqual(readdirSync(join(root, 'nix/store')).filter((n) => n.startsWith('.') && n !== '.links'), []);
  });

  describe('with real nix', () => {
    let nixStore: string;
    before(function () {
      nixStore = requireNix(this);
    });

    it('nix-store --optimise finds nothing left after ours, and accepts the store', async () => {
      assert.equal((await run(['--optimise'])).code, 0);
      const r = runNix(nixStore, ['--store', root, '--optimise']);
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stderr, /0\.00 MiB freed by hard-linking 0 files/);
      nixOk(nixStore, ['--store', root, '--verify', '--check-contents']);
    });

    it('ours finds nothing left after nix-store --optimise', async () => {
      const r = runNix(nixStore, ['--store', root, '--optimise']);
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stderr, /0\.38 MiB freed by hard-linking 7 files/);
      const ours = await run(['--optimise']);
      assert.match(ours.stderr, /^0\.00 MiB freed by hard-linking 0 files$/m);
      assert.equal((await run(['--verify', '--check-contents'])).code, 0);
    });
  });
});
