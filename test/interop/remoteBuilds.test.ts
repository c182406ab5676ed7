/**
 * tsnix sends its builds to machines of `builders` whose `nix-store --serve --write` is real
 * Nix 2.8's, each on a store of its own (`ssh://localhost?remote-store=…`: Nix's convention,
 * kept by tsnix, runs a localhost machine's command through bash instead of ssh).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BuildStore } from '../support/buildStore.js';
import { tempDir } from '../support/cli.js';
import { startDaemon } from '../support/daemonClient.js';
import { builtThere, requireNix, runNix } from '../support/nix.js';

describe('interop: remote builds on real nix machines (builders, max-jobs 0)', function () {
  this.timeout(120000);
  let nixStore: string;
  let bs: BuildStore;
  before(function () {
    nixStore = requireNix(this);
    if (process.getuid?.() !== 0) this.skip();
  });
  beforeEach(async () => {
    bs = await BuildStore.create();
  });
  afterEach(() => bs?.remove());

  const machine = (root: string, extra = 'x86_64-linux - 2 1'): string => `ssh://localhost?remote-store=${root} ${extra}`;
  const builtOn = (root: string): string[] => (existsSync(join(root, 'nix/store')) ? readdirSync(join(root, 'nix/store')) : []);
  it('the wide shape (500 leaves and a top) is built on two machines; the outputs are valid here and nix verifies them', async () => {
    const { leaves, top, expected } = await bs.wide('leaf');
    const [r1, r2] = [tempDir('tsnix-remote-a-'), tempDir('tsnix-remote-b-')];
    const r = await bs.run(['-r', top.drvPath, '--option', 'max-jobs', '0', '--option', 'builders', `${machine(r1)}; ${machine(r2)}`]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, new RegExp(`building '${top.drvPath.replace(/\./g, '\\.')}' on 'ssh://localhost\\?remote-store=`));
    assert.equal(readFileSync(bs.real(top.out), 'utf8'), expected);
    assert.equal(runNix(nixStore, ['--store', bs.storeArg, '--verify', '--check-contents']).status, 0);
    // Both machines took some of the work; each derivation was built once, on one of them.
    const [onA, onB] = [builtThere(r1), builtThere(r2)];
    assert.ok(onA.length > 0 && onB.length > 0, `a: ${onA.length}, b: ${onB.length}`);
    assert.deepEqual([...onA, ...onB].sort(), [...leaves, top].map((h) => h.out).sort());
  });

  it('tsnix-daemon sends its clients\' builds to its builders (max-jobs 0): a real nix-store -r through it', async () => {
    const job = bs.drv('daemon-to-machine', 'echo from the machine > $out');
    await bs.write([job]);
    const target = tempDir('tsnix-remote-daemon-');
    const daemon = await startDaemon(bs.root, ['--option', 'max-jobs', '0', '--option', 'builders', machine(target)]);
    try {
      // A unix:// client reads .drv files from its own /nix/store: the test store is bound there.
      const r = spawnSync('unshare', ['-m', 'sh', '-c', `mount --bind ${bs.root}/nix /nix && nix-store -r ${job.drvPath}`], {
        encoding: 'utf8',
        env: { ...process.env, NIX_REMOTE: `unix://${daemon.socket}`, NIX_CONF_DIR: '/nonexistent' },
      });
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stderr, /building '.*-daemon-to-machine\.drv' on 'ssh:\/\/localhost\?remote-store=/);
      assert.ok(builtThere(target).includes(job.out));
      assert.equal(readFileSync(bs.real(job.out), 'utf8'), 'from the machine\n');
    } finally {
      await daemon.stop();
    }
  });

  it('builders-use-substitutes: the machine fetches an input from its own cache instead of being sent it', async () => {
    const job = bs.drv('uses-a-cached-input', 'echo ok > $out');
    await bs.write([job]);
    // The input (busybox) in a cache of the machine's, signed there: a copy sent by tsnix would carry no signature.
    const keys = tempDir('tsnix-remote-keys-');
    assert.equal((await bs.run(['--generate-binary-cache-key', 'machine-cache-1', join(keys, 'sec'), join(keys, 'pub')])).code, 0);
    const cache = tempDir('tsnix-remote-cache-');
    const cached = await bs.run(['--copy-to', `file://${cache}?secret-key=${join(keys, 'sec')}`, bs.busybox]);
    assert.equal(cached.code, 0, cached.stderr);
    const machineRoot = tempDir('tsnix-remote-subst-');
    const env = { NIX_CONFIG: `substituters = file://${cache}\ntrusted-public-keys = ${readFileSync(join(keys, 'pub'), 'utf8').trim()}` };
    const r = await bs.run(['-r', job.drvPath, '--option', 'max-jobs', '0', '--option', 'builders-use-substitutes', 'true', '--option', 'builders', machine(machineRoot)], env);
    assert.equal(r.code, 0, r.stderr);
    const info = JSON.parse(spawnSync(nixStore.replace(/nix-store$/, 'nix'), ['--extra-experimental-features', 'nix-command', 'path-info', '--json', '--store', machineRoot, bs.busybox], { encoding: 'utf8' }).stdout) as { signatures?: string[] }[];
    assert.ok((info[0]!.signatures ?? []).some((sig) => sig.startsWith('machine-cache-1:')), JSON.stringify(info));
  });

  it('a machine that cannot be reached is left alone and the build goes to the other', async () => {
    const job = bs.drv('to-the-good-one', 'echo good > $out');
    await bs.write([job]);
    const good = tempDir('tsnix-remote-good-');
    const broken = 'ssh://localhost?remote-program=/nonexistent/nix-store x86_64-linux - 1 9';
    const r = await bs.run(['-r', job.drvPath, '--option', 'max-jobs', '0', '--option', 'builders', `${broken}; ${machine(good)}`]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /warning: the connection to 'ssh:\/\/localhost\?remote-program=\/nonexistent\/nix-store' failed: .*; building '.*' elsewhere/);
    assert.ok(builtOn(good).some((n) => n.endsWith('-to-the-good-one')));
  });

  it('a machine that dies in the middle of a build is left alone and the build starts again on the other', async () => {
    // A remote-program whose nix-store --serve is killed two seconds after it started.
    const dir = tempDir('tsnix-remote-dying-');
    const dying = join(dir, 'dying-nix-store');
    writeFileSync(dying, '#!/bin/sh\nnix-store "$@" & pid=$!\n(sleep 2; kill -9 $pid) &\nwait $pid\n', { mode: 0o755 });
    const job = bs.drv('outlives-a-machine', 'echo started; sleep 4; echo finished > $out');
    await bs.write([job]);
    const good = tempDir('tsnix-remote-survivor-');
    const builders = `ssh://localhost?remote-program=${dying}&remote-store=${join(dir, 'store')} x86_64-linux - 1 9; ${machine(good)}`;
    const r = await bs.run(['-r', job.drvPath, '--option', 'max-jobs', '0', '--option', 'builders', builders]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, new RegExp(`building '.*-outlives-a-machine\\.drv' on 'ssh://localhost\\?remote-program=${dying.replace(/[.]/g, '\\.')}`));
    assert.match(r.stderr, /warning: the connection to .* failed.*; building '.*' elsewhere/);
    assert.ok(builtThere(good).includes(job.out));
    assert.equal(readFileSync(bs.real(job.out), 'utf8'), 'finished\n');
    assert.equal(runNix(nixStore, ['--store', bs.storeArg, '--verify', '--check-contents']).status, 0);
  });

  it('preferLocalBuild stays here while there are local slots, and goes to a machine under max-jobs 0', async () => {
    const local = bs.drv('prefers-here', 'echo here > $out', [], { preferLocalBuild: '1' });
    const plain = bs.drv('goes-away', 'echo away > $out');
    await bs.write([local, plain]);
    const first = tempDir('tsnix-remote-pl-');
    const r = await bs.run(['-r', local.drvPath, plain.drvPath, '--option', 'max-jobs', '1', '--option', 'builders', machine(first, 'x86_64-linux - 2 9')]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(builtThere(first), [plain.out]);
    assert.equal(readFileSync(bs.real(local.out), 'utf8'), 'here\n');
    // No slot here: it goes to the machine after all, as with nix.
    const again = bs.drv('prefers-here-but', 'echo here > $out', [], { preferLocalBuild: '1' });
    await bs.write([again]);
    const second = tempDir('tsnix-remote-pl0-');
    const r0 = await bs.run(['-r', again.drvPath, '--option', 'max-jobs', '0', '--option', 'builders', machine(second)]);
    assert.equal(r0.code, 0, r0.stderr);
    assert.deepEqual(builtThere(second), [again.out]);
  });

  it('no machine of the right system: refused with a clear message under max-jobs 0, built here otherwise', async () => {
    const job = bs.drv('needs-x86', 'echo here > $out');
    await bs.write([job]);
    const arm = machine(tempDir('tsnix-remote-arm-'), 'aarch64-linux - 1 1');
    const refused = await bs.run(['-r', job.drvPath, '--option', 'max-jobs', '0', '--option', 'builders', arm]);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /no machine of 'builders' can build '.*-needs-x86\.drv' for 'x86_64-linux'/);
    const here = await bs.run(['-r', job.drvPath, '--option', 'max-jobs', '1', '--option', 'builders', arm]);
    assert.equal(here.code, 0, here.stderr);
    assert.doesNotMatch(here.stderr, / on 'ssh:/);
  });

  it('a machine that sends an output other than it announced is caught: hash mismatch, nothing registered', async () => {
    // A remote-program in front of real nix-store --serve that forges the NAR it sends back.
    const dir = tempDir('tsnix-remote-liar-');
    const liar = join(dir, 'lying-nix-store');
    writeFileSync(
      liar,
      `#!${process.execPath}
const { spawn } = require('child_process');
const child = spawn('nix-store', process.argv.slice(2), { stdio: ['pipe', 'pipe', 'inherit'] });
process.stdin.pipe(child.stdin);
child.stdout.on('data', (b) => process.stdout.write(Buffer.from(b.toString('latin1').replace(/honest-bytes/g, 'forged-bytes'), 'latin1')));
child.on('exit', (code) => process.exit(code ?? 1));
`,
      { mode: 0o755 },
    );
    const job = bs.drv('tamper-target', 'echo honest-bytes > $out');
    await bs.write([job]);
    const r = await bs.run(['-r', job.drvPath, '--option', 'max-jobs', '0', '--option', 'builders', `ssh://localhost?remote-program=${liar}&remote-store=${join(dir, 'store')} x86_64-linux`]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /hash mismatch in the output '.*-tamper-target' that 'ssh:\/\/localhost.*' sent/);
    assert.notEqual(runNix(nixStore, ['--store', bs.storeArg, '--check-validity', job.out]).status, 0);
    assert.ok(!existsSync(bs.real(job.out)));
  });

  it('max-build-log-size reaches the machine: nix there kills a chatty build, which fails here with its message', async () => {
    const job = bs.drv('chatty-remotely', 'i=0; while [ $i -lt 100 ]; do printf "%099d\\n" $i; i=$((i+1)); done; sleep 600; echo > $out');
    await bs.write([job]);
    const started = Date.now();
    const r = await bs.run(['-r', job.drvPath, '--option', 'max-build-log-size', '4096', '--option', 'max-jobs', '0', '--option', 'builders', machine(tempDir('tsnix-remote-l-'))]);
    assert.equal(r.code, 1, r.stderr);
    assert.ok(Date.now() - started < 45000, `the build took ${Date.now() - started} ms`);
    assert.match(r.stderr, /killed after writing more than 4096 bytes of log output/);
    assert.notEqual(runNix(nixStore, ['--store', bs.storeArg, '--check-validity', job.out]).status, 0);
  });

  it('a build failing on the machine fails here with its message and log, and nothing is registered', async () => {
    const job = bs.drv('fails-remotely', 'echo about-to-fail; exit 7');
    await bs.write([job]);
    const r = await bs.run(['-r', job.drvPath, '--option', 'max-jobs', '0', '--option', 'builders', machine(tempDir('tsnix-remote-f-'))]);
    assert.equal(r.code, 100, r.stderr);
    assert.match(r.stderr, /about-to-fail/);
    assert.match(r.stderr, /builder for '.*-fails-remotely\.drv' failed with exit code 7/);
    assert.notEqual(runNix(nixStore, ['--store', bs.storeArg, '--check-validity', job.out]).status, 0);
    assert.ok(!existsSync(bs.real(job.out)));
  });
});
