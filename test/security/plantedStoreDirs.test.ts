/**
 * Attacks on the collector and the optimiser through the store directory, which build users
 * may write to in a multi-user store (1775): a symlink planted as `STORE/trash` or
 * `STORE/.links`, or a directory of the attacker's own under those names, must not make
 * tsnix delete, or link, anything outside the store.
 */
import assert from 'node:assert/strict';
import { chownSync, existsSync, lstatSync, mkdirSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir, tsnixStore } from '../support/cli.js';

describe('attack: planted trash and .links in the store directory', function () {
  this.timeout(60000);
  let root: string;
  let victim: string;
  let store: string;
  const run = (args: string[]) => tsnixStore(['--store', root, ...args]);

  beforeEach(async () => {
    root = tempDir('tsnix-planted-');
    victim = tempDir('tsnix-victim-');
    writeFileSync(join(victim, 'precious'), 'do not delete\n');
    mkdirSync(join(victim, 'dir'));
    writeFileSync(join(victim, 'dir', 'file'), 'nor this\n');
    const src = tempDir();
    writeFileSync(join(src, 'garbage'), 'garbage\n');
    const added = await run(['--add', join(src, 'garbage')]);
    assert.equal(added.code, 0, added.stderr);
    store = join(root, 'nix/store');
  });

  it('a symlink as STORE/trash is removed, not followed, by the collector', async () => {
    symlinkSync(victim, join(store, 'trash'));
    const r = await run(['--gc']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(readdirSync(victim).sort(), ['dir', 'precious']);
    assert.deepEqual(readdirSync(join(victim, 'dir')), ['file']);
    assert.equal(existsSync(join(store, 'trash')), false, 'the collector left no trash behind');
    assert.match(r.stdout.toString(), /^1 store paths deleted/);
  });

  it('a symlink as STORE/.links is removed, not followed, by the collector', async () => {
    writeFileSync(join(victim, 'one-link'), 'a file with a link count of 1, as unused .links entries have\n');
    symlinkSync(victim, join(store, '.links'));
    const r = await run(['--gc']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(readdirSync(victim).sort(), ['dir', 'one-link', 'precious']);
    assert.ok(lstatSync(join(store, '.links')).isDirectory());
  });

  it('a symlink as STORE/.links is removed, not followed, by the optimiser', async () => {
    const src = tempDir();
    writeFileSync(join(src, 'a'), 'same\n');
    writeFileSync(join(src, 'b'), 'same\n');
    assert.equal((await run(['--add', join(src, 'a'), join(src, 'b')])).code, 0);
    symlinkSync(victim, join(store, '.links'));
    const r = await run(['--optimise']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(readdirSync(victim).sort(), ['dir', 'precious'], 'nothing was linked into the target');
    assert.ok(lstatSync(join(store, '.links')).isDirectory());
    assert.match(r.stderr, /freed by hard-linking 1 files/);
  });

  it('a directory of another user\'s as STORE/trash is replaced by one of our own', async function () {
    if (process.getuid?.() !== 0) this.skip();
    const planted = join(store, 'trash');
    mkdirSync(planted);
    symlinkSync(victim, join(planted, 'escape'));
    chownSync(planted, 65534, 65534);
    const r = await run(['--gc']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(readdirSync(victim).sort(), ['dir', 'precious']);
    assert.equal(existsSync(planted), false);
  });
});
