/**
 * Remote stores and builders over real ssh: an sshd of the test's own on 127.0.0.1, real Nix
 * on the other side of tsnix, and real Nix using tsnix on the other side. NIX_SSHOPTS points
 * both at the test's port and key, as a user would.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { BuildStore } from '../support/buildStore.js';
import { tempDir, TSNIX_STORE } from '../support/cli.js';
import { builtThere, nixBuildOnBuilder, requireNix, runNix } from '../support/nix.js';
import { SSHD, startSshd, type TestSshd } from '../support/sshd.js';

describe('interop: over ssh (an sshd on 127.0.0.1)', function () {
  this.timeout(120000);
  let nixStore: string;
  let nix: string;
  let sshd: TestSshd;
  let bs: BuildStore;
  let env: NodeJS.ProcessEnv;

  before(async function () {
    nixStore = requireNix(this);
    nix = requireNix(this, 'nix');
    if (process.getuid?.() !== 0) this.skip();
    if (!existsSync(SSHD)) {
      if (process.env['TSNIX_REQUIRE_NIX'] === '1') throw new Error(`${SSHD} is missing (package openssh-server), and TSNIX_REQUIRE_NIX=1`);
      this.skip();
    }
    sshd = await startSshd();
    env = { ...process.env, NIX_SSHOPTS: sshd.sshOptions, NIX_CONF_DIR: '/nonexistent', TSNIX_CONF_DIR: '/nonexistent', NIX_REMOTE: '' };
  });
  after(async () => {
    await sshd?.stop();
  });
  beforeEach(async () => {
    bs = await BuildStore.create();
  });
  afterEach(() => bs?.remove());

  const tsnix = (args: string[]): { status: number | null; stderr: string; stdout: string } => {
    const r = spawnSync(TSNIX_STORE, ['--store', bs.storeArg, ...args], { encoding: 'utf8', env });
    return { status: r.status, stderr: r.stderr, stdout: r.stdout };
  };

  it('tsnix builds on a real nix machine and copies to one, through ssh', async () => {
    const leaves = Array.from({ length: 4 }, (_, i) => bs.drv(`ssh-leaf${i}`, `echo leaf ${i} > $out`));
    const top = bs.drv('ssh-top', `cat ${leaves.map((l) => l.out).join(' ')} > $out`, leaves);
    await bs.write([top]);
    const machine = tempDir('tsnix-ssh-machine-');
    const logins = (): number => (sshd.log().match(/Accepted publickey/g) ?? []).length;
    const before = logins();
    const built = tsnix(['-r', top.drvPath, '--option', 'max-jobs', '0', '--option', 'builders', `ssh://root@127.0.0.1?remote-store=${machine} x86_64-linux - 2 1`]);
    assert.equal(built.status, 0, built.stderr);
    // Five builds, two slots on the machine: one ssh connection, its sessions kept and reused.
    // (sshd writes a login's line to its log file before the session starts.)
    const made = logins() - before;
    assert.equal(made, 1, `${made} ssh logins for 5 builds on 2 slots:\n${sshd.log()}`);
    assert.match(built.stderr, /building '.*-ssh-top\.drv' on 'ssh:\/\/root@127\.0\.0\.1/);
    assert.equal(readFileSync(bs.real(top.out), 'utf8'), 'leaf 0\nleaf 1\nleaf 2\nleaf 3\n');
    assert.equal(runNix(nixStore, ['--store', bs.storeArg, '--verify', '--check-contents']).status, 0);
    assert.equal(runNix(nixStore, ['--store', machine, '--check-validity', top.out]).status, 0);

    const copyTarget = tempDir('tsnix-ssh-copy-');
    const copied = tsnix(['--copy-to', `ssh://root@127.0.0.1?remote-store=${copyTarget}`, top.out]);
    assert.equal(copied.status, 0, copied.stderr);
    assert.equal(runNix(nixStore, ['--store', copyTarget, '--verify', '--check-contents']).status, 0);
    assert.equal(readFileSync(join(copyTarget, top.out), 'utf8'), readFileSync(bs.real(top.out), 'utf8'));
  });

  it('the wide shape (500 leaves and a top) on two real nix machines over ssh, max-jobs 0', async () => {
    const { leaves, top, expected } = await bs.wide('wide');
    const [a, b] = [tempDir('tsnix-ssh-a-'), tempDir('tsnix-ssh-b-')];
    const builders = [a, b].map((m) => `ssh://root@127.0.0.1?remote-store=${m} x86_64-linux - 2 1`).join('; ');
    const built = tsnix(['-r', top.drvPath, '--option', 'max-jobs', '0', '--option', 'builders', builders]);
    assert.equal(built.status, 0, built.stderr);
    assert.equal(runNix(nixStore, ['--store', bs.storeArg, '--verify', '--check-contents']).status, 0);
    assert.equal(readFileSync(bs.real(top.out), 'utf8'), expected);
    const [onA, onB] = [builtThere(a), builtThere(b)];
    assert.ok(onA.length > 0 && onB.length > 0, `a: ${onA.length}, b: ${onB.length}`);
    assert.deepEqual([...onA, ...onB].sort(), [...leaves, top].map((h) => h.out).sort());
  });

  it('a machine whose ssh connection is killed in the middle of a build: the build starts again on the other', async () => {
    const job = bs.drv('ssh-outlives-a-machine', 'echo started-on-machine; sleep 4; echo finished > $out');
    await bs.write([job]);
    const [first, second] = [tempDir('tsnix-ssh-first-'), tempDir('tsnix-ssh-second-')];
    const builders = `ssh://root@127.0.0.1?remote-store=${first} x86_64-linux - 1 9; ssh://root@127.0.0.1?remote-store=${second} x86_64-linux - 1 1`;
    const child = spawn(TSNIX_STORE, ['--store', bs.storeArg, '-r', job.drvPath, '--option', 'max-jobs', '0', '--option', 'builders', builders], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    for (let waited = 0; !stderr.includes('started-on-machine'); waited += 50) {
      if (waited > 30000) throw new Error(`the build did not start: ${stderr}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    // The sshd process serving the first machine's connection (the only one so far) is killed.
    const sessions = spawnSync('pgrep', ['-P', String(sshd.pid)], { encoding: 'utf8' }).stdout.split('\n').filter((l) => l !== '');
    assert.equal(sessions.length, 1, `sshd children: ${sessions.join(' ')}`);
    process.kill(Number(sessions[0]), 'SIGKILL');
    assert.equal(await exited, 0, stderr);
    assert.match(stderr, /warning: .*; building '.*-ssh-outlives-a-machine\.drv' elsewhere/);
    assert.ok(builtThere(second).includes(job.out));
    assert.equal(readFileSync(bs.real(job.out), 'utf8'), 'finished\n');
  });

  it('real nix copies to a tsnix store and builds on a tsnix machine, through ssh (remote-program=tsnix-store)', async () => {
    const target = tempDir('tsnix-ssh-target-');
    const remote = `ssh://root@127.0.0.1?remote-program=${TSNIX_STORE}&remote-store=${target}`;
    const copy = spawnSync(nix, ['--extra-experimental-features', 'nix-command', 'copy', '--no-check-sigs', '--from', bs.storeArg, '--to', remote, bs.busybox], { encoding: 'utf8', env });
    assert.equal(copy.status, 0, copy.stderr);
    assert.equal(runNix(nixStore, ['--store', target, '--verify', '--check-contents']).status, 0);

    const r = nixBuildOnBuilder(bs.root, bs.busybox, 'built-over-ssh', 'echo over ssh > $out', `${remote} x86_64-linux`, env);
    assert.equal(r.status, 0, r.stderr);
    const out = r.stdout.trim();
    assert.equal(readFileSync(join(target, out), 'utf8'), 'over ssh\n');
    assert.equal(readFileSync(join(bs.root, out), 'utf8'), 'over ssh\n');
  });
});
