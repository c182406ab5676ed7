/**
 * Bad input on the command line gets one clear line on stderr, exit 1, and leaves the
 * store exactly as it was: no new valid path, no content left in the store directory.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, writeFileSync, mkdirSync } from 'node:fs';
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import type { Writable } from 'node:stream';
import { join } from 'node:path';
import { TSNIX_STORE, tempDir, tsnixStore, tsnixStoreOk } from '../support/cli.js';
import { fixture } from '../support/fixtures.js';

const A_TXT = '/nix/store/8awlk6rgzynhczrf7mwqjfk93zbcldl6-a.txt';
const B_TXT = '/nix/store/wm1yl0adpghzq2zqm62z1i3v1c3hslgv-b.txt';

/** What a store holds: valid paths and every entry of the store directory. */
async function snapshot(root: string): Promise<{ valid: string; entries: string[] }> {
  const entries = existsSync(join(root, 'nix/store')) ? readdirSync(join(root, 'nix/store')).sort() : [];
  const r = await tsnixStore(['--store', root, '--check-validity', '--print-invalid', A_TXT, B_TXT]);
  return { valid: r.stdout.toString(), entries };
}

function assertOneLineError(stderr: string, pattern: RegExp): void {
  const lines = stderr.trimEnd().split('\n').filter((l) => !l.startsWith('Try '));
  assert.equal(lines.length, 1, `expected one line, got:\n${stderr}`);
  assert.match(lines[0]!, /^error: /);
  assert.match(lines[0]!, pattern);
}

describe('bad input to tsnix-store', () => {
  const exportBytes = readFileSync(fixture('export/a-b.export'));

  for (const cut of [4, 8 + 60, 8 + 120 + 12, 0xe0 + 4, 0xe8 + 100, exportBytes.length - 8]) {
    it(`--import of an export stream cut at byte ${cut} fails and imports nothing`, async () => {
      const root = tempDir();
      await tsnixStoreOk(['--store', root, '--add', fixture('nar/case-hack.txt')]);
      const before = await snapshot(root);
      const r = await tsnixStore(['--store', root, '--import'], { input: exportBytes.subarray(0, cut) });
      assert.equal(r.code, 1);
      assertOneLineError(r.stderr, /truncated|expected|export/);
      assert.deepEqual(await snapshot(root), before);
    });
  }

  it('--import of a stream whose path is not a store path fails and imports nothing', async () => {
    const root = tempDir();
    await tsnixStoreOk(['--store', root, '--add', fixture('nar/case-hack.txt')]);
    const before = await snapshot(root);
    const bad = Buffer.from(exportBytes);
    const at = bad.indexOf('/nix/store/8awl');
    bad.write('/nix/store/eeee', at); // 'e' is not a nix32 digit
    const r = await tsnixStore(['--store', root, '--import'], { input: bad });
    assert.equal(r.code, 1);
    assertOneLineError(r.stderr, /invalid hash part/);
    assert.deepEqual(await snapshot(root), before);
  });

  it('--import of a path whose reference is missing fails and imports nothing', async () => {
    const root = tempDir();
    await tsnixStoreOk(['--store', root, '--add', fixture('nar/case-hack.txt')]);
    const before = await snapshot(root);
    // Only the second entry (b.txt, which refers to a.txt): skip the first entry's 0xe0 bytes.
    const onlyB = Buffer.concat([exportBytes.subarray(0xe0)]);
    const r = await tsnixStore(['--store', root, '--import'], { input: onlyB });
    assert.equal(r.code, 1);
    assertOneLineError(r.stderr, /reference '\/nix\/store\/8awl.*-a.txt' is not valid/);
    assert.deepEqual(await snapshot(root), before);
  });

  it('--add of a malformed .drv file is refused as nix refuses it, and adds nothing', async () => {
    const root = tempDir();
    const drv = join(tempDir(), 'bad.drv');
    writeFileSync(drv, 'garbage\n');
    const before = await snapshot(root);
    const r = await tsnixStore(['--store', root, '--add', drv]);
    assert.equal(r.code, 1);
    assertOneLineError(r.stderr, /error parsing derivation '\/nix\/store\/pjzh2d7qinpwq3q49qgfmx007hnbk1mk-bad.drv': .*expected 'Derive' at offset 0/);
    const after = await snapshot(root);
    assert.deepEqual(after.valid, before.valid);
    assert.deepEqual(after.entries.filter((e) => e !== '.links'), before.entries.filter((e) => e !== '.links'));
    const check = await tsnixStore(['--store', root, '--check-validity', '/nix/store/pjzh2d7qinpwq3q49qgfmx007hnbk1mk-bad.drv']);
    assert.equal(check.code, 1);
  });

  it('--restore of a truncated NAR fails and creates nothing', async () => {
    const dir = tempDir();
    const nar = readFileSync(fixture('nar/06-tree.nar'));
    const r = await tsnixStore(['--restore', join(dir, 'out')], { input: nar.subarray(0, nar.length - 20) });
    assert.equal(r.code, 1);
    assertOneLineError(r.stderr, /truncated/);
    assert.deepEqual(readdirSync(dir), []);
  });

  it('--restore of a good NAR recreates the tree that dumps back to the same bytes', async () => {
    const dir = tempDir();
    const nar = readFileSync(fixture('nar/06-tree.nar'));
    await tsnixStoreOk(['--restore', join(dir, 'out')], { input: nar });
    const r = await tsnixStore(['--dump', join(dir, 'out')]);
    assert.ok(r.stdout.equals(nar));
  });

  it('--add of a missing file names it', async () => {
    const r = await tsnixStore(['--store', tempDir(), '--add', '/nonexistent/file']);
    assert.equal(r.code, 1);
    assertOneLineError(r.stderr, /\/nonexistent\/file/);
  });

  it('--add-fixed with an unknown hash type names it', async () => {
    const r = await tsnixStore(['--store', tempDir(), '--add-fixed', 'md4', fixture('nar/case-hack.txt')]);
    assert.equal(r.code, 1);
    assertOneLineError(r.stderr, /unknown hash algorithm 'md4'/);
  });

  it('--add of a directory holding a socket or FIFO names the file and adds nothing', async () => {
    const root = tempDir();
    const src = join(tempDir(), 'with-fifo');
    mkdirSync(src);
    writeFileSync(join(src, 'a'), 'a');
    await new Promise<void>((ok, fail) => spawn('mkfifo', [join(src, 'pipe')]).on('exit', (c) => (c === 0 ? ok() : fail(new Error('mkfifo')))));
    const r = await tsnixStore(['--store', root, '--add', src]);
    assert.equal(r.code, 1);
    assertOneLineError(r.stderr, /pipe/);
    assert.deepEqual(readdirSync(join(root, 'nix/store')).filter((e) => e !== '.links'), []);
  });

  it('a query of a path that is not valid says so as nix-store does', async () => {
    const root = tempDir();
    await tsnixStoreOk(['--store', root, '--add', fixture('nar/case-hack.txt')]);
    const r = await tsnixStore(['--store', root, '-q', '--references', A_TXT]);
    assert.equal(r.code, 1);
    assertOneLineError(r.stderr, new RegExp(`path '${A_TXT}' is not valid`));
  });

  it('a malformed store path argument is refused with its name', async () => {
    const r = await tsnixStore(['--store', tempDir(), '-q', '--hash', '/nix/store/tooshort']);
    assert.equal(r.code, 1);
    assertOneLineError(r.stderr, /tooshort/);
  });

  it('a bad configuration line names the origin', async () => {
    const r = await tsnixStore(['--store', tempDir(), '-q', '--hash', A_TXT], { env: { TSNIX_CONFIG: 'sandbox true' } });
    assert.equal(r.code, 1);
    assertOneLineError(r.stderr, /illegal configuration line 'sandbox true' in 'TSNIX_CONFIG:1'/);
  });

  it('an import killed with SIGKILL halfway leaves no valid path; the next import completes and verifies', async () => {
    const root = tempDir();
    const child = startImport(root);
    // The whole first path and half of the second, then stall as a slow network would.
    child.stdin.write(exportBytes.subarray(0, 0xe8 + 100));
    assert.ok(await waitForTempDir(root), 'the import made its temporary directory within 10 s');
    child.kill('SIGKILL');
    await new Promise((r) => child.on('exit', r));
    assert.equal((await snapshot(root)).valid, `${A_TXT}\n${B_TXT}\n`);
    await tsnixStoreOk(['--store', root, '--import'], { input: exportBytes });
    assert.equal((await snapshot(root)).valid, '');
    const leftovers = tempDirs(root).filter((name) => !name.includes(`-${child.pid}-`));
    assert.deepEqual(leftovers, [], 'only the killed process may leave a temporary directory');
    const verify = await tsnixStore(['--store', root, '--verify', '--check-contents']);
    assert.equal(verify.code, 0, verify.stderr);
  });

  it('an import interrupted with SIGINT (Ctrl-C) exits and leaves no temporary directory', async () => {
    const root = tempDir();
    const child = startImport(root);
    child.stdin.write(exportBytes.subarray(0, 0xe8 + 100));
    assert.ok(await waitForTempDir(root), 'the import made its temporary directory within 10 s');
    const exited = new Promise<[number | null, NodeJS.Signals | null]>((r) => child.on('exit', (code, signal) => r([code, signal])));
    child.kill('SIGINT');
    const [code, signal] = await exited;
    assert.ok(code === 130 || signal === 'SIGINT', `exit code ${code}, signal ${signal}`);
    assert.deepEqual(tempDirs(root), []);
    assert.equal((await snapshot(root)).valid, `${A_TXT}\n${B_TXT}\n`);
  });
});

function startImport(root: string): ChildProcessByStdio<Writable, null, null> {
  return spawn(TSNIX_STORE, ['--store', root, '--import'], { stdio: ['pipe', 'ignore', 'ignore'], env: { ...process.env, TSNIX_CONF_DIR: '/nonexistent' } });
}

/** The `.tsnix-*` temporary directories in the store directory. */
function tempDirs(root: string): string[] {
  const store = join(root, 'nix/store');
  return existsSync(store) ? readdirSync(store).filter((name) => name.startsWith('.tsnix-')) : [];
}

/** Polls until an import's temporary directory exists; false after 10 s. */
async function waitForTempDir(root: string): Promise<boolean> {
  for (let waited = 0; waited < 10_000; waited += 50) {
    if (tempDirs(root).some((name) => name.startsWith('.tsnix-import-'))) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}
