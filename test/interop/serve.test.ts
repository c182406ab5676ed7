/**
 * `tsnix-store --serve`: nix 2.8's recorded sessions replayed byte for byte, and real Nix
 * using a tsnix store as `ssh://` remote store and remote builder. Nix runs a `localhost`
 * host's command through `bash -c` instead of ssh, so no sshd is needed here.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BuildStore } from '../support/buildStore.js';
import { fixture } from '../support/fixtures.js';
import { tempDir, TSNIX_STORE, tsnixStore, tsnixStoreOk } from '../support/cli.js';
import { nixBuildOnBuilder, nixOk, requireNix, runNix } from '../support/nix.js';
import { encodeString, encodeU64 } from '../support/daemonClient.js';

const VECTORS = fixture('protocol');
const lines = (text: string): string[] => text.split('\n').filter((l) => l !== '');

/** The client's and the server's bytes of a recorded session. */
function recording(name: string): { client: Buffer; server: Buffer } {
  const client: Buffer[] = [];
  const server: Buffer[] = [];
  for (const line of lines(readFileSync(join(VECTORS, `${name}.jsonl`), 'utf8'))) {
    const { dir, hex } = JSON.parse(line) as { dir: string; hex: string };
    (dir === 'C>S' ? client : server).push(Buffer.from(hex, 'hex'));
  }
  return { client: Buffer.concat(client), server: Buffer.concat(server) };
}

function serve(root: string, input: Buffer, write = true): { status: number | null; stdout: Buffer; stderr: string } {
  const r = spawnSync(TSNIX_STORE, ['--store', root, '--serve', ...(write ? ['--write'] : [])], { input, env: { ...process.env, TSNIX_CONF_DIR: '/nonexistent' }, maxBuffer: 1 << 26 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr.toString() };
}

const HANDSHAKE = Buffer.concat([encodeU64(0x390c9deb), encodeU64(0x207)]);

describe('tsnix-store --serve (the serve protocol)', function () {
  this.timeout(60000);
  let nixStore: string;
  let nix: string;
  let root: string;
  before(function () {
    nixStore = requireNix(this);
    nix = requireNix(this, 'nix');
  });
  beforeEach(() => {
    root = tempDir('tsnix-serve-');
  });

  it('answers nix 2.8\'s recorded `nix copy --to ssh://` and `--from ssh://` sessions byte for byte', () => {
    const to = recording('serve-copy-to');
    const copied = serve(root, to.client);
    assert.equal(copied.status, 0, copied.stderr);
    assert.equal(copied.stdout.toString('hex'), to.server.toString('hex'));
    // What it stored is what nix stored on its side: the session back out matches too.
    const from = recording('serve-copy-from');
    const served = serve(root, from.client, false);
    assert.equal(served.status, 0, served.stderr);
    assert.equal(served.stdout.toString('hex'), from.server.toString('hex'));
    assert.equal(runNix(nixStore, ['--store', root, '--verify', '--check-contents']).status, 0);
  });

  it('real nix copy --to and --from ssh://localhost?remote-program=tsnix-store, and nix path-info over it', async () => {
    const src = tempDir();
    writeFileSync(join(src, 'a'), 'served a\n');
    const local = tempDir('tsnix-serve-local-');
    const path = nixOk(nixStore, ['--store', local, '--add', join(src, 'a')]).trim();
    const remote = `ssh://localhost?remote-program=${TSNIX_STORE}&remote-store=${root}`;
    nixOk(nix, ['--extra-experimental-features', 'nix-command', 'copy', '--no-check-sigs', '--from', local, '--to', remote, path]);
    assert.equal(readFileSync(join(root, path), 'utf8'), 'served a\n');
    assert.equal(runNix(nixStore, ['--store', root, '--verify', '--check-contents']).status, 0);
    const info = (store: string): Record<string, unknown>[] => JSON.parse(nixOk(nix, ['--extra-experimental-features', 'nix-command', 'path-info', '--json', '--store', store, path])) as Record<string, unknown>[];
    // The serve protocol carries no registration time; everything else is as nix reads it itself.
    const direct = info(root);
    delete direct[0]!['registrationTime'];
    assert.deepEqual(info(remote), direct);
    const back = tempDir('tsnix-serve-back-');
    nixOk(nix, ['--extra-experimental-features', 'nix-command', 'copy', '--no-check-sigs', '--from', remote, '--to', back, path]);
    assert.equal(readFileSync(join(back, path), 'utf8'), 'served a\n');
  });

  it('without --write, imports are refused with a message and nothing is added', async () => {
    const src = tempDir();
    writeFileSync(join(src, 'x'), 'x\n');
    const donor = tempDir();
    const path = (await tsnixStoreOk(['--store', donor, '--add', join(src, 'x')])).trim();
    const exported = spawnSync(TSNIX_STORE, ['--store', donor, '--export', path]).stdout;
    const r = serve(root, Buffer.concat([HANDSHAKE, encodeU64(4), exported]), false);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /importing paths is not allowed/);
    assert.notEqual(runNix(nixStore, ['--store', root, '--check-validity', path]).status, 0);
  });

  it('a bad client: wrong magic, and a NAR cut short in AddToStoreNar, register nothing and leave nothing behind', () => {
    const wrong = serve(root, Buffer.concat([encodeU64(0x12345678), encodeU64(0x207)]));
    assert.notEqual(wrong.status, 0);
    assert.match(wrong.stderr, /protocol mismatch/);
    // The recorded AddToStoreNar of a.txt, cut off 40 bytes into its NAR.
    const to = recording('serve-copy-to').client;
    const start = to.indexOf(Buffer.concat([encodeU64(9), encodeString('/nix/store/8awlk6rgzynhczrf7mwqjfk93zbcldl6-a.txt')]));
    const narAt = to.indexOf(Buffer.from('nix-archive-1'), start) - 8;
    const cut = serve(root, Buffer.concat([HANDSHAKE, to.subarray(start, narAt + 40)]));
    assert.notEqual(cut.status, 0);
    assert.notEqual(runNix(nixStore, ['--store', root, '--check-validity', '/nix/store/8awlk6rgzynhczrf7mwqjfk93zbcldl6-a.txt']).status, 0);
    assert.deepEqual(readdirSync(join(root, 'nix/store')).filter((n) => !n.startsWith('.')), []);
  });

  it('tsnix-store --copy-to and --copy-from ssh://localhost?remote-store=… with real nix-store --serve on the other side', async () => {
    const bs = await BuildStore.create();
    try {
      const input = bs.drv('copied-input', 'echo input > $out');
      const top = bs.drv('copied-top', `echo top > $out; echo ${input.out} >> $out`, [input]);
      await bs.write([top]);
      const built = await bs.run(['-r', top.drvPath]);
      assert.equal(built.code, 0, built.stderr);
      const nixSide = tempDir('tsnix-serve-nixside-');
      const remote = `ssh://localhost?remote-store=${nixSide}`;
      const sent = await bs.run(['--copy-to', remote, top.out]);
      assert.equal(sent.code, 0, sent.stderr);
      // Real nix holds the closure, and finds it intact.
      const closure = lines(nixOk(nixStore, ['--store', bs.storeArg, '-qR', top.out])).sort();
      assert.ok(closure.includes(input.out));
      assert.deepEqual(lines(nixOk(nixStore, ['--store', nixSide, '-qR', top.out])).sort(), closure);
      assert.equal(runNix(nixStore, ['--store', nixSide, '--verify', '--check-contents']).status, 0);
      // Back: unsigned input-addressed paths are refused as nix refuses them, unless require-sigs is off.
      const back = tempDir('tsnix-serve-back-');
      const refused = await tsnixStore(['--store', back, '--copy-from', remote, top.out]);
      assert.notEqual(refused.code, 0);
      assert.match(refused.stderr, /cannot add path '\/nix\/store\/[0-9a-z]{32}-copied-input' because it lacks a signature by a trusted key/);
      assert.notEqual(runNix(nixStore, ['--store', back, '--check-validity', top.out]).status, 0);
      const fetched = await tsnixStore(['--store', back, '--copy-from', remote, top.out, '--option', 'require-sigs', 'false']);
      assert.equal(fetched.code, 0, fetched.stderr);
      assert.equal(readFileSync(join(back, top.out), 'utf8'), readFileSync(bs.real(top.out), 'utf8'));
      assert.equal(runNix(nixStore, ['--store', back, '--verify', '--check-contents']).status, 0);
      // A remote that cannot be started is named, with what it said.
      const broken = await bs.run(['--copy-to', 'ssh://localhost?remote-program=/nonexistent/nix-store', top.out]);
      assert.notEqual(broken.code, 0);
      assert.match(broken.stderr, /the connection to 'ssh:\/\/localhost\?remote-program=\/nonexistent\/nix-store' failed: .*No such file/);
    } finally {
      bs.remove();
    }
  });

  it('an error ends the session at once, with the client\'s end still open (as nix-store --serve)', async () => {
    const child = spawn(TSNIX_STORE, ['--store', root, '--serve'], { env: { ...process.env, TSNIX_CONF_DIR: '/nonexistent' }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    // DumpStorePath of a path that is not valid; stdin stays open.
    child.stdin.write(Buffer.concat([HANDSHAKE, encodeU64(3), encodeString('/nix/store/00000000000000000000000000000000-missing')]));
    const timer = setTimeout(() => child.kill('SIGKILL'), 10000);
    const code = await exited;
    clearTimeout(timer);
    assert.equal(code, 1, `exit ${code}: ${stderr}`);
    assert.match(stderr, /error: path '\/nix\/store\/0{32}-missing' is not valid/);
  });

  it('--copy-to a machine that refuses imports fails with what the machine said', async () => {
    const dir = tempDir('tsnix-serve-readonly-');
    const readOnly = join(dir, 'read-only-nix-store');
    writeFileSync(readOnly, `#!/bin/sh\nexec nix-store --serve --store ${join(dir, 'store')}\n`, { mode: 0o755 });
    const src = tempDir();
    writeFileSync(join(src, 'r'), 'refused\n');
    const path = (await tsnixStoreOk(['--store', root, '--add', join(src, 'r')])).trim();
    const r = await tsnixStore(['--store', root, '--copy-to', `ssh://localhost?remote-program=${readOnly}`, path]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /the connection to 'ssh:\/\/localhost\?remote-program=.*' failed: .*not allowed/);
  });

  describe('as a remote builder of real nix (--builders ssh://localhost?remote-program=tsnix-store)', () => {
    let bs: BuildStore;
    beforeEach(async function () {
      if (process.getuid?.() !== 0) this.skip();
      bs = await BuildStore.create();
    });
    afterEach(() => bs?.remove());

    it('nix-build with max-jobs 0 builds on the tsnix store (BuildDerivation) and copies the output back', () => {
      const builder = `ssh://localhost?remote-program=${TSNIX_STORE}&remote-store=${root} x86_64-linux`;
      const r = nixBuildOnBuilder(bs.root, bs.busybox, 'served-build', 'echo building on the serving side; echo served > $out', builder);
      assert.equal(r.status, 0, r.stderr);
      const out = r.stdout.trim();
      assert.match(r.stderr, /building '\/nix\/store\/[0-9a-z]{32}-served-build\.drv' on 'ssh:\/\/localhost/);
      assert.match(r.stderr, /building on the serving side/);
      assert.equal(readFileSync(join(root, out), 'utf8'), 'served\n');
      assert.equal(readFileSync(join(bs.root, out), 'utf8'), 'served\n');
      assert.equal(runNix(nixStore, ['--store', root, '--verify', '--check-contents']).status, 0);
    });

    it('the build options a client sends are kept: max-build-log-size kills a chatty build on the serving store', async () => {
      // The client is tsnix, which leaves the limit to the machine (nix would also cut the log it receives).
      const chatty = bs.drv('served-chatty', 'i=0; while [ $i -lt 100 ]; do printf "%099d\\n" $i; i=$((i+1)); done; sleep 600; echo > $out');
      await bs.write([chatty]);
      const builder = `ssh://localhost?remote-program=${TSNIX_STORE}&remote-store=${root} x86_64-linux`;
      const started = Date.now();
      const r = await bs.run(['-r', chatty.drvPath, '--option', 'max-jobs', '0', '--option', 'max-build-log-size', '4096', '--option', 'builders', builder]);
      assert.equal(r.code, 1, r.stderr);
      assert.ok(Date.now() - started < 45000, `the build took ${Date.now() - started} ms`);
      assert.match(r.stderr, new RegExp(`building of '${chatty.drvPath}!\\*' from .drv file killed after writing more than 4096 bytes of log output`));
    });
  });
});
