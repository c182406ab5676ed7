/**
 * tsnix-daemon serving real Nix 2.8 clients over `unix://`, and standing up to clients that
 * misbehave. (Operations that add or build are not served yet: a client asking for one is
 * told so by name.)
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { BuildStore } from '../support/buildStore.js';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { tempDir, tsnixStoreOk } from '../support/cli.js';
import { encodeString, encodeU64, RawClient, startDaemon, TSNIX_DAEMON, type RunningDaemon } from '../support/daemonClient.js';
import { nixBuildOnBuilder, nixOk, requireNix, runNix } from '../support/nix.js';
import { createHash } from 'node:crypto';
import { Hash } from '../../src/format/hash.js';
import { makeFixedOutputPath } from '../../src/format/storePath.js';
import { writeBasicDerivation } from '../../src/format/basicDerivation.js';
import type { Derivation } from '../../src/format/derivation/index.js';
import { WireWriter } from '../../src/format/wire.js';

const STDERR_LAST = encodeU64(0x616c7473);
const STDERR_ERROR = encodeU64(0x63787470);

function lines(text: string): string[] {
  return text.split('\n').filter((l) => l !== '');
}

describe('interop: real nix clients and tsnix-daemon', function () {
  this.timeout(60000);
  let nix: string;
  let nixStore: string;
  let root: string;
  let daemon: RunningDaemon;
  let paths: string[];
  before(function () {
    nixStore = requireNix(this);
    nix = requireNix(this, 'nix');
  });
  beforeEach(async () => {
    root = tempDir('tsnix-daemon-');
    const src = tempDir();
    writeFileSync(join(src, 'a'), 'a\n');
    writeFileSync(join(src, 'b'), 'b\n');
    paths = lines(await tsnixStoreOk(['--store', root, '--add', join(src, 'a'), join(src, 'b')]));
    daemon = await startDaemon(root);
  });
  afterEach(async () => {
    await daemon.stop();
  });

  const remote = (): string => `unix://${daemon.socket}`;

  it('nix path-info --json through the daemon says what nix reads from the store itself', () => {
    const through = nixOk(nix, ['--extra-experimental-features', 'nix-command', 'path-info', '--json', '--store', remote(), ...paths]);
    const direct = nixOk(nix, ['--extra-experimental-features', 'nix-command', 'path-info', '--json', '--store', root, ...paths]);
    assert.deepEqual(JSON.parse(through), JSON.parse(direct));
  });

  it('nix-store --check-validity, -q --references and --gc --print-roots through the daemon', () => {
    assert.equal(runNix(nixStore, ['--store', remote(), '--check-validity', ...paths]).status, 0);
    const missing = '/nix/store/00000000000000000000000000000000-missing';
    assert.notEqual(runNix(nixStore, ['--store', remote(), '--check-validity', missing]).status, 0);
    assert.equal(nixOk(nixStore, ['--store', remote(), '-q', '--references', paths[0]!]), '');
    const rootLink = join(root, 'nix/var/nix/gcroots/keep-a');
    spawnSync('ln', ['-s', paths[0]!, rootLink]);
    assert.match(nixOk(nixStore, ['--store', remote(), '--gc', '--print-roots']), new RegExp(`^${rootLink} -> ${paths[0]}$`, 'm'));
  });

  it('an operation not served is refused by name, and the daemon goes on serving', async () => {
    const client = await RawClient.connect(daemon.socket);
    await client.handshake();
    client.send(encodeU64(28), encodeString(paths[0]!));
    await client.waitClosed();
    assert.deepEqual(client.received.subarray(0, 8), STDERR_ERROR);
    assert.match(client.received.toString('latin1'), /tsnix-daemon does not support the operation QueryDerivationOutputNames \(28\) yet/);
    assert.equal(runNix(nixStore, ['--store', remote(), '--check-validity', ...paths]).status, 0);
  });

  it('nix-store --optimise and --verify --check-contents through the daemon', () => {
    const optimised = runNix(nixStore, ['--store', remote(), '--optimise']);
    assert.equal(optimised.status, 0, optimised.stderr);
    assert.match(optimised.stderr, /MiB freed by hard-linking \d+ files/);
    const verified = runNix(nixStore, ['--store', remote(), '--verify', '--check-contents']);
    assert.equal(verified.status, 0, verified.stderr);
    assert.match(verified.stderr, /checking store hashes\.\.\./);
  });

  it('nix-store --add, --add-fixed and nix-instantiate add through the daemon the paths nix makes itself', () => {
    const src = tempDir();
    writeFileSync(join(src, 'file'), 'some file\n');
    const dir = join(src, 'tree');
    mkdirSync(join(dir, 'sub'), { recursive: true });
    writeFileSync(join(dir, 'sub', 'f'), 'in a tree\n');
    const reference = join(tempDir(), 'nix-store');
    const added = lines(nixOk(nixStore, ['--store', remote(), '--add', join(src, 'file'), dir]));
    const fixed = nixOk(nixStore, ['--store', remote(), '--add-fixed', 'sha256', join(src, 'file')]).trim();
    const expression = 'derivation { name = "through-daemon"; builder = "/bin/sh"; args = [ "-c" "echo > $out" ]; system = "x86_64-linux"; }';
    const drv = nixOk(nix + '-instantiate', ['--store', remote(), '-E', expression]).trim();
    assert.deepEqual(added, lines(nixOk(nixStore, ['--store', reference, '--add', join(src, 'file'), dir])));
    assert.equal(fixed, nixOk(nixStore, ['--store', reference, '--add-fixed', 'sha256', join(src, 'file')]).trim());
    assert.equal(drv, nixOk(nix + '-instantiate', ['--store', reference, '-E', expression]).trim());
    for (const path of [...added, fixed, drv]) {
      // (No substituters: for a .drv, path-info asks them about its outputs, and there is no network.)
      const info = (store: string): Record<string, unknown>[] =>
        JSON.parse(nixOk(nix, ['--extra-experimental-features', 'nix-command', 'path-info', '--option', 'substituters', '', '--json', '--store', store, path])) as Record<string, unknown>[];
      const ours = info(root);
      const theirs = info(reference);
      for (const info of [...ours, ...theirs]) delete info['registrationTime'];
      assert.deepEqual(ours, theirs, path);
    }
    nixOk(nixStore, ['--store', root, '--verify', '--check-contents']);
  });

  it('nix store sign adds signatures through the daemon (AddSignatures)', () => {
    const keys = tempDir();
    nixOk(nixStore, ['--generate-binary-cache-key', 'test-key-1', join(keys, 'secret'), join(keys, 'public')]);
    nixOk(nix, ['--extra-experimental-features', 'nix-command', 'store', 'sign', '--store', remote(), '--key-file', join(keys, 'secret'), paths[0]!]);
    const info = JSON.parse(nixOk(nix, ['--extra-experimental-features', 'nix-command', 'path-info', '--json', '--store', root, paths[0]!])) as { signatures?: string[] }[];
    assert.match(info[0]!.signatures?.[0] ?? '', /^test-key-1:/);
  });

  it('a trusted client adds a build log (AddBuildLog), which tsnix-store -l then shows', async () => {
    const drvBase = '33333333333333333333333333333333-logged.drv';
    const client = await RawClient.connect(daemon.socket);
    await client.handshake();
    const text = Buffer.from('first line\nsecond line\n');
    client.send(encodeU64(45), encodeString(drvBase), encodeU64(text.length), text, encodeU64(0));
    await client.waitFor(16);
    assert.deepEqual(client.received.subarray(0, 16), Buffer.concat([STDERR_LAST, encodeU64(1)]));
    client.close();
    assert.equal(await tsnixStoreOk(['--store', root, '-l', `/nix/store/${drvBase}`]), 'first line\nsecond line\n');
  });

  it('nix-store --import and nix copy --to add paths through the daemon', () => {
    const source = join(tempDir(), 'source');
    const src = tempDir();
    for (const name of ['x', 'y', 'z']) writeFileSync(join(src, name), `${name}\n`);
    const made = lines(nixOk(nixStore, ['--store', source, '--add', join(src, 'x'), join(src, 'y'), join(src, 'z')]));
    const exported = spawnSync(nixStore, ['--store', source, '--export', made[0]!], { env: { ...process.env, NIX_REMOTE: '' } }).stdout;
    assert.deepEqual(lines(nixOk(nixStore, ['--store', remote(), '--import'], exported)), [made[0]!]);
    nixOk(nix, ['--extra-experimental-features', 'nix-command', 'copy', '--option', 'substituters', '', '--from', source, '--to', remote(), made[1]!, made[2]!]);
    assert.equal(runNix(nixStore, ['--store', root, '--check-validity', ...made]).status, 0);
    nixOk(nixStore, ['--store', root, '--verify', '--check-contents']);
  });

  it('a temp root taken through a connection lasts as long as the connection: nix\'s collector honours it, then not', async () => {
    const client = await RawClient.connect(daemon.socket);
    await client.handshake();
    client.send(encodeU64(11), encodeString(paths[0]!));
    await client.waitFor(16);
    assert.ok(client.received.subarray(0, 16).equals(Buffer.concat([STDERR_LAST, encodeU64(1)])));
    // A file of its own, named by a number beyond every pid (nix reads the names as pids).
    const files = readdirSync(join(root, 'nix/var/nix/temproots'));
    assert.ok(files.some((f) => Number(f) >= 2 ** 30 && Number(f) < 2 ** 31), files.join(' '));
    const dead = (): string[] => lines(nixOk(nixStore, ['--store', root, '--gc', '--print-dead']));
    assert.ok(!dead().includes(paths[0]!));
    assert.ok(dead().includes(paths[1]!));
    client.close();
    await daemon.waitForLog(/connection \d+: closed/);
    assert.ok(dead().includes(paths[0]!));
  });

  describe('bad clients', () => {
    async function stillServes(): Promise<void> {
      const client = await RawClient.connect(daemon.socket);
      await client.handshake();
      client.send(encodeU64(1), encodeString(paths[0]!));
      await client.waitFor(16);
      assert.deepEqual(client.received.subarray(0, 16), Buffer.concat([STDERR_LAST, encodeU64(1)]));
      client.close();
    }

    it('garbage instead of an opcode: an Error, the connection closed, other clients served', async () => {
      const client = await RawClient.connect(daemon.socket);
      await client.handshake();
      client.send(encodeU64(999), Buffer.from('this is not the worker protocol at all'));
      await client.waitClosed();
      assert.deepEqual(client.received.subarray(0, 8), STDERR_ERROR);
      assert.match(client.received.toString('latin1'), /invalid operation 999/);
      const other = await RawClient.connect(daemon.socket);
      await other.handshake();
      other.send(Buffer.from('text where a u64 should be'));
      await other.waitClosed();
      assert.match(other.received.toString('latin1'), /integer \d+ at offset \d+ is too large/);
      await stillServes();
    });

    it('a string length of 2^60: refused before anything is allocated', async () => {
      const client = await RawClient.connect(daemon.socket);
      await client.handshake();
      const huge = Buffer.alloc(8);
      huge.writeBigUInt64LE(1n << 60n);
      client.send(encodeU64(1), huge);
      await client.waitClosed();
      assert.deepEqual(client.received.subarray(0, 8), STDERR_ERROR);
      assert.match(client.received.toString('latin1'), /exceeds the limit|too large/);
      await stillServes();
    });

    it('a client that vanishes halfway through a request, and 200 idle connections, disturb nobody', async () => {
      const half = await RawClient.connect(daemon.socket);
      await half.handshake();
      half.send(encodeU64(1), encodeU64(52), Buffer.from('/nix/store/'));
      half.close();
      const idle = await Promise.all(Array.from({ length: 200 }, () => RawClient.connect(daemon.socket)));
      await stillServes();
      assert.equal(runNix(nixStore, ['--store', remote(), '--check-validity', ...paths]).status, 0);
      for (const c of idle) c.close();
      assert.equal(daemon.process.exitCode, null, 'the daemon is still running');
      await daemon.waitForLog(/connection \d+: closing: client connection is truncated/);
    });

    /** AddToStoreNar of a made-up path, up to (not including) its framed NAR. */
    function addToStoreNarHeader(path: string): Buffer {
      return Buffer.concat([
        encodeU64(39),
        encodeString(path),
        encodeString(''),
        encodeString('0'.repeat(64)),
        encodeU64(0),
        encodeU64(0),
        encodeU64(0),
        encodeU64(0),
        encodeU64(0),
        encodeString(''),
        encodeU64(0),
        encodeU64(1),
      ]);
    }
    const frame = (bytes: Buffer): Buffer => Buffer.concat([encodeU64(bytes.length), bytes]);

    it('a NAR cut off in the middle by a vanishing client registers nothing and leaves nothing behind', async () => {
      const cut = '/nix/store/11111111111111111111111111111111-cut';
      const client = await RawClient.connect(daemon.socket);
      await client.handshake();
      const narStart = Buffer.concat(['nix-archive-1', '(', 'type', 'regular', 'contents'].map((t) => encodeString(t)));
      client.send(addToStoreNarHeader(cut), frame(narStart), frame(Buffer.concat([encodeU64(1000), Buffer.alloc(100, 1)])));
      await new Promise((resolve) => setTimeout(resolve, 100));
      client.close();
      await daemon.waitForLog(/connection \d+: closing: client connection is truncated/);
      assert.notEqual(runNix(nixStore, ['--store', root, '--check-validity', cut]).status, 0);
      assert.deepEqual(readdirSync(join(root, 'nix/store')).filter((n) => n.startsWith('.tsnix-') || n.endsWith('-cut')), []);
      await stillServes();
    });

    it('a malformed NAR in whole frames: an Error, and the same connection goes on', async () => {
      const bad = '/nix/store/22222222222222222222222222222222-bad';
      const client = await RawClient.connect(daemon.socket);
      await client.handshake();
      client.send(addToStoreNarHeader(bad), frame(Buffer.from('this is not a NAR, just some bytes....')), encodeU64(0));
      await client.waitFor(8);
      assert.deepEqual(client.received.subarray(0, 8), STDERR_ERROR);
      await client.waitFor(64);
      const error = client.received.length;
      client.send(encodeU64(1), encodeString(paths[0]!));
      await client.waitFor(error + 16);
      assert.deepEqual(client.received.subarray(client.received.length - 16), Buffer.concat([STDERR_LAST, encodeU64(1)]));
      assert.equal(client.closed, false);
      client.close();
      assert.notEqual(runNix(nixStore, ['--store', root, '--check-validity', bad]).status, 0);
    });

    /** AddMultipleToStore (`nix copy`): a good path, then the start of a second whose hash is `secondHash`. */
    function addMultipleStart(first: string, second: string, secondHash: string): { head: Buffer; secondNar: Buffer } {
      const nar = (text: string): Buffer => Buffer.concat(['nix-archive-1', '(', 'type', 'regular', 'contents', text, ')'].map((t) => encodeString(t)));
      const info = (path: string, hash: string): Buffer =>
        Buffer.concat([encodeString(path), encodeString(''), encodeString(hash), encodeU64(0), encodeU64(0), encodeU64(0), encodeU64(0), encodeU64(0), encodeString('')]);
      const firstNar = nar('first\n');
      const secondNar = nar('second\n');
      const head = Buffer.concat([encodeU64(2), info(first, createHash('sha256').update(firstNar).digest('hex')), firstNar, info(second, secondHash)]);
      return { head: Buffer.concat([encodeU64(44), encodeU64(0), encodeU64(1), frame(head)]), secondNar };
    }
    const storeTemps = (): string[] => readdirSync(join(root, 'nix/store')).filter((n) => n.startsWith('.tsnix-') || /-(first|second)[0-9]$/.test(n));

    it('a nix copy stream cut off in its second path registers neither and leaves nothing behind', async () => {
      const [first, second] = ['/nix/store/33333333333333333333333333333333-first1', '/nix/store/44444444444444444444444444444444-second1'];
      const { head, secondNar } = addMultipleStart(first, second, '0'.repeat(64));
      const client = await RawClient.connect(daemon.socket);
      await client.handshake();
      client.send(head, frame(secondNar.subarray(0, 40)));
      await new Promise((resolve) => setTimeout(resolve, 100));
      client.close();
      await daemon.waitForLog(/connection \d+: closing: client connection is truncated/);
      assert.notEqual(runNix(nixStore, ['--store', root, '--check-validity', first]).status, 0);
      assert.notEqual(runNix(nixStore, ['--store', root, '--check-validity', second]).status, 0);
      assert.deepEqual(storeTemps(), []);
      await stillServes();
    });

    it('a nix copy stream whose second NAR has the wrong hash: an Error, neither registered, nothing left behind', async () => {
      const [first, second] = ['/nix/store/55555555555555555555555555555555-first2', '/nix/store/66666666666666666666666666666666-second2'];
      const { head, secondNar } = addMultipleStart(first, second, '1'.repeat(64));
      const client = await RawClient.connect(daemon.socket);
      await client.handshake();
      client.send(head, frame(secondNar), encodeU64(0));
      await client.waitFor(8);
      assert.deepEqual(client.received.subarray(0, 8), STDERR_ERROR);
      await client.waitFor(200);
      assert.match(client.received.toString('latin1'), /hash mismatch importing path '\/nix\/store\/6{32}-second2'/);
      client.close();
      assert.notEqual(runNix(nixStore, ['--store', root, '--check-validity', first]).status, 0);
      assert.notEqual(runNix(nixStore, ['--store', root, '--check-validity', second]).status, 0);
      assert.deepEqual(storeTemps(), []);
      await stillServes();
    });

    it('a path whose content does not have its content address is refused, signed or not', async () => {
      const nar = (text: string): Buffer => Buffer.concat([...['nix-archive-1', '(', 'type', 'regular', 'contents', text, ')'].map((t) => encodeString(t))]);
      const claimed = new Hash('sha256', createHash('sha256').update(nar('the real source\n')).digest());
      const path = makeFixedOutputPath('recursive', claimed, 'source', '/nix/store');
      const evil = nar('something else\n');
      const client = await RawClient.connect(daemon.socket);
      await client.handshake();
      client.send(
        encodeU64(39),
        encodeString(path),
        encodeString(''),
        encodeString(createHash('sha256').update(evil).digest('hex')),
        encodeU64(0),
        encodeU64(0),
        encodeU64(evil.length),
        encodeU64(0),
        encodeU64(0),
        encodeString(`fixed:r:sha256:${claimed.toNix32()}`),
        encodeU64(0),
        encodeU64(1),
        frame(evil),
        encodeU64(0),
      );
      await client.waitFor(8);
      await new Promise((resolve) => setTimeout(resolve, 200));
      assert.deepEqual(client.received.subarray(0, 8), STDERR_ERROR);
      assert.match(client.received.toString('latin1'), new RegExp(`ca hash mismatch importing path '${path}'`));
      client.close();
      assert.notEqual(runNix(nixStore, ['--store', root, '--check-validity', path]).status, 0);
    });

    it('CollectGarbage of a name that is no store path closes the connection, deleting nothing', async () => {
      const client = await RawClient.connect(daemon.socket);
      await client.handshake();
      client.send(encodeU64(20), encodeU64(3), encodeU64(1), encodeString(`${paths[0]}!/../../etc`), encodeU64(0), Buffer.alloc(8, 0xff), encodeU64(0), encodeU64(0), encodeU64(0));
      await client.waitClosed();
      assert.deepEqual(client.received.subarray(0, 8), STDERR_ERROR);
      assert.equal(runNix(nixStore, ['--store', root, '--check-validity', ...paths]).status, 0);
    });

    it('a client that hangs up while a NAR is sent to it ends only its connection', async () => {
      const big = join(tempDir(), 'big');
      writeFileSync(big, Buffer.alloc(32 << 20, 7));
      const [bigPath] = lines(await tsnixStoreOk(['--store', root, '--add', big]));
      const client = await RawClient.connect(daemon.socket);
      await client.handshake();
      client.socket.pause();
      client.send(encodeU64(38), encodeString(bigPath!));
      await new Promise((resolve) => setTimeout(resolve, 300));
      client.close();
      await daemon.waitForLog(/connection \d+: (closing: operation NarFromPath failed after its reply began|closed)/);
      await stillServes();
    });

    it('a client older than the protocol it speaks is told so', async () => {
      const client = await RawClient.connect(daemon.socket);
      client.send(encodeU64(0x6e697863), encodeU64(0x115), encodeU64(0), encodeU64(0));
      await client.waitClosed();
      assert.match(client.received.toString('latin1'), /speaks worker protocol 1\.34; this client speaks 1\.21/);
    });
  });

  describe('who may connect (SO_PEERCRED, allowed-users, trusted-users)', () => {
    const NOBODY = 65534;
    /** Runs nix-store as the unprivileged user `nobody` against the daemon. */
    function asNobody(args: string[]): { status: number | null; stdout: string; stderr: string } {
      const home = tempDir();
      chmodSync(home, 0o777);
      const r = spawnSync('setpriv', [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', 'env', `HOME=${home}`, nixStore, '--store', remote(), ...args], { encoding: 'utf8' });
      return { status: r.status, stdout: r.stdout, stderr: r.stderr };
    }
    let link: string;
    beforeEach(function () {
      if (process.getuid?.() !== 0) this.skip();
      // The client must reach the socket.
      chmodSync(root, 0o755);
      link = join(root, 'nix/var/nix/gcroots/keep-a');
      spawnSync('ln', ['-s', paths[0]!, link]);
    });

    it('an untrusted user is served, but sees the roots censored', async () => {
      const r = asNobody(['--gc', '--print-roots']);
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`^\\{censored\\} -> ${paths[0]}$`, 'm'));
      assert.doesNotMatch(r.stdout, /keep-a/);
      await daemon.waitForLog(/accepted connection from pid \d+, user nobody\n/);
    });

    it('an untrusted user\'s restricted options are ignored with nix\'s warning; a trusted user\'s are taken', () => {
      const r = asNobody(['--option', 'sandbox', 'false', '--option', 'substituters', 'http://127.0.0.1:9/', '--check-validity', paths[0]!]);
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stderr, /warning: ignoring the client-specified setting 'sandbox', because it is a restricted setting and you are not a trusted user/);
      assert.match(r.stderr, /warning: ignoring untrusted substituter 'http:\/\/127\.0\.0\.1:9\/', you are not a trusted user/);
      const trusted = runNix(nixStore, ['--store', remote(), '--option', 'sandbox', 'false', '--check-validity', paths[0]!]);
      assert.equal(trusted.status, 0, trusted.stderr);
      assert.doesNotMatch(trusted.stderr, /ignoring/);
    });

    it('an untrusted user\'s unsigned import is refused with nix\'s message', () => {
      const source = join(tempDir(), 'source');
      const src = tempDir();
      writeFileSync(join(src, 'unsigned'), 'unsigned\n');
      const [made] = lines(nixOk(nixStore, ['--store', source, '--add', join(src, 'unsigned')]));
      const exported = spawnSync(nixStore, ['--store', source, '--export', made!]).stdout;
      const home = tempDir();
      chmodSync(home, 0o777);
      const r = spawnSync('setpriv', [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', 'env', `HOME=${home}`, nixStore, '--store', remote(), '--import'], { input: exported, encoding: 'utf8' });
      assert.notEqual(r.status, 0);
      assert.match(r.stderr, new RegExp(`error: cannot add path '${made}' because it lacks a signature by a trusted key`));
      assert.notEqual(runNix(nixStore, ['--store', root, '--check-validity', made!]).status, 0, 'nothing was added');
      // The same stream from root (trusted: the client turns the check off) is accepted.
      assert.deepEqual(lines(nixOk(nixStore, ['--store', remote(), '--import'], exported)), [made!]);
    });

    it('a user outside allowed-users is turned away; a trusted one sees the roots', async () => {
      await daemon.stop();
      daemon = await startDaemon(root, ['--option', 'allowed-users', 'root']);
      const refused = asNobody(['--check-validity', paths[0]!]);
      assert.notEqual(refused.status, 0);
      await daemon.waitForLog(/error processing connection: user 'nobody' is not allowed to connect to the Nix daemon/);
      assert.equal(runNix(nixStore, ['--store', remote(), '--check-validity', paths[0]!]).status, 0, 'root still is');

      await daemon.stop();
      daemon = await startDaemon(root, ['--option', 'allowed-users', 'root', '--option', 'trusted-users', 'root @nogroup']);
      const trusted = asNobody(['--gc', '--print-roots']);
      assert.equal(trusted.status, 0, trusted.stderr);
      assert.match(trusted.stdout, new RegExp(`^${link} -> ${paths[0]}$`, 'm'));
      await daemon.waitForLog(/accepted connection from pid \d+, user nobody \(trusted\)/);
    });
  });

  describe('builds through the daemon (the client in a mount namespace where the test store is /nix)', () => {
    let bs: BuildStore;
    beforeEach(async function () {
      if (process.getuid?.() !== 0) this.skip();
      await daemon.stop();
      bs = await BuildStore.create();
      daemon = await startDaemon(bs.root);
    });
    afterEach(async () => {
      await daemon.stop();
      bs?.remove();
    });

    /** Runs `script` with the test store's `nix` bound on /nix and NIX_REMOTE at the daemon. */
    function client(script: string): { status: number | null; stdout: string; stderr: string } {
      const r = spawnSync('unshare', ['-m', 'sh', '-c', `mount --bind ${bs.root}/nix /nix && cd ${bs.root} && ${script}`], {
        encoding: 'utf8',
        env: { ...process.env, NIX_REMOTE: remote(), NIX_CONF_DIR: '/nonexistent' },
      });
      return { status: r.status, stdout: r.stdout, stderr: r.stderr };
    }

    it('nix-build builds, logs and roots its result; nix-store -r, --export and --gc --print-dead work through it', () => {
      writeFileSync(
        join(bs.root, 'e.nix'),
        `let bb = builtins.storePath "${bs.busybox}"; in {
          ok = derivation { name = "hello-daemon"; system = "x86_64-linux"; builder = "\${bb}/bin/busybox"; args = [ "sh" "-c" "echo building now; echo hi > $out" ]; };
          bad = derivation { name = "fails"; system = "x86_64-linux"; builder = "\${bb}/bin/busybox"; args = [ "sh" "-c" "echo about to fail; exit 3" ]; };
        }`,
      );
      const built = client("nix-build e.nix -A ok --option substituters ''");
      assert.equal(built.status, 0, built.stderr);
      const out = built.stdout.trim();
      assert.match(out, /^\/nix\/store\/[0-9a-z]{32}-hello-daemon$/);
      assert.match(built.stderr, /building now/);
      assert.equal(readFileSync(join(bs.root, out), 'utf8'), 'hi\n');
      assert.equal(readlinkSync(join(bs.root, 'result')), out);
      // The result is an indirect root the collector honours.
      const dead = client('nix-store --gc --print-dead');
      assert.equal(dead.status, 0, dead.stderr);
      assert.ok(!lines(dead.stdout).includes(out));
      const realised = client('nix-store -r $(nix-instantiate e.nix -A ok)');
      assert.equal(realised.status, 0, realised.stderr);
      assert.equal(realised.stdout.trim(), out);
      const exported = spawnSync('unshare', ['-m', 'sh', '-c', `mount --bind ${bs.root}/nix /nix && nix-store --export ${out}`], { env: { ...process.env, NIX_REMOTE: remote() } });
      assert.equal(exported.status, 0);
      assert.ok(exported.stdout.includes(Buffer.from('hi\n')));

      const failed = client("nix-build e.nix -A bad --option substituters ''");
      assert.notEqual(failed.status, 0);
      assert.match(failed.stderr, /about to fail/);
      assert.match(failed.stderr, /error: builder for '\/nix\/store\/[0-9a-z]{32}-fails\.drv' failed with exit code 3/);
    });

    it('a client that hangs up during its build stops that build: the builder is killed, nothing becomes valid', async () => {
      const slow = bs.drv('slow-daemon', 'echo started-slow; sleep 37; echo done > $out');
      await bs.write([slow]);
      const client = await RawClient.connect(daemon.socket);
      await client.handshake();
      client.send(encodeU64(9), encodeU64(1), encodeString(`${slow.drvPath}!out`), encodeU64(0));
      for (let waited = 0; !client.received.includes('started-slow'); waited += 50) {
        if (waited > 20000) throw new Error(`the build did not start: ${client.received.toString('latin1')}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      const running = (): boolean => spawnSync('pgrep', ['-f', 'sleep 37']).status === 0;
      assert.ok(running(), 'the builder runs');
      client.close();
      for (let waited = 0; running(); waited += 100) {
        if (waited > 10000) throw new Error('the builder still runs after its client left');
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      assert.notEqual(runNix(nixStore, ['--store', bs.root, '--check-validity', slow.out]).status, 0);
    });

    /** Waits until `done()` holds, or fails naming `what`. */
    async function until(what: string, done: () => boolean, timeoutMs = 20000): Promise<void> {
      for (let waited = 0; !done(); waited += 50) {
        if (waited > timeoutMs) throw new Error(`timed out waiting for ${what}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
    const builders = (pattern: string): number => spawnSync('pgrep', ['-c', '-f', pattern], { encoding: 'utf8' }).stdout.trim().split('\n').map(Number)[0] ?? 0;

    it('two clients asking for one derivation share one build: both see its whole log, and one hanging up does not stop it', async () => {
      const job = bs.drv('shared-daemon', 'echo early-line; sleep 6.5; echo late-line; echo done > $out');
      await bs.write([job]);
      const request = [encodeU64(9), encodeU64(1), encodeString(`${job.drvPath}!out`), encodeU64(0)];
      const first = await RawClient.connect(daemon.socket);
      await first.handshake();
      first.send(...request);
      await until('the first client to see the build start', () => first.received.includes('early-line'));
      const second = await RawClient.connect(daemon.socket);
      await second.handshake();
      second.send(...request);
      // The second is told the build started, and sees the log it missed.
      await until('the second client to see the log so far', () => second.received.includes('early-line'));
      assert.ok(second.received.includes(`building '${job.drvPath}'`));
      assert.equal(builders('echo early-line; sleep'), 1, 'one builder for both clients');
      first.close();
      await until('the build to finish for the second client', () => second.received.subarray(-16).equals(Buffer.concat([STDERR_LAST, encodeU64(1)])));
      assert.ok(second.received.includes('late-line'));
      second.close();
      assert.equal(runNix(nixStore, ['--store', bs.root, '--check-validity', job.out]).status, 0);
      assert.equal(readFileSync(bs.real(job.out), 'utf8'), 'done\n');
    });

    it('a shared build whose clients all hang up is stopped; a failing one fails for every client', async () => {
      const slow = bs.drv('shared-abandoned', 'echo started; sleep 29; echo done > $out');
      const failing = bs.drv('shared-failing', 'echo going-to-fail; sleep 1.5; exit 4');
      await bs.write([slow, failing]);
      const ask = async (drvPath: string): Promise<RawClient> => {
        const client = await RawClient.connect(daemon.socket);
        await client.handshake();
        client.send(encodeU64(9), encodeU64(1), encodeString(`${drvPath}!out`), encodeU64(0));
        return client;
      };
      const [a, b] = [await ask(slow.drvPath), await ask(slow.drvPath)];
      await until('the shared build to start', () => a.received.includes('started') && b.received.includes('started'));
      a.close();
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.equal(builders('echo started; sleep 29'), 1, 'the build goes on while one client waits');
      b.close();
      await until('the builder to be killed', () => builders('echo started; sleep 29') === 0, 10000);
      assert.notEqual(runNix(nixStore, ['--store', bs.root, '--check-validity', slow.out]).status, 0);

      const [c, d] = [await ask(failing.drvPath), await ask(failing.drvPath)];
      for (const client of [c, d]) {
        await until('the failure to reach both clients', () => client.received.includes(STDERR_ERROR));
        assert.ok(client.received.includes(`builder for '${failing.drvPath}' failed with exit code 4`));
        client.close();
      }
      assert.equal(builders('echo going-to-fail'), 0);
    });

    it('a daemon told to stop (SIGTERM) mid-build kills the builder and leaves no build directory behind', async () => {
      const slow = bs.drv('stopped-daemon', 'echo started-stop; sleep 31; echo done > $out');
      await bs.write([slow]);
      const client = await RawClient.connect(daemon.socket);
      await client.handshake();
      // Its own build directory, or (as root) a sandbox kept between builds, in use: with a root.
      // (A process killed in another test may have left one.)
      const inUse = (n: string): boolean => n.startsWith('nix-build-stopped-daemon-') || (n.startsWith('tsnix-sandbox-') && existsSync(join(tmpdir(), n, 'root')));
      const leftBefore = new Set(readdirSync(tmpdir()).filter(inUse));
      client.send(encodeU64(9), encodeU64(1), encodeString(`${slow.drvPath}!out`), encodeU64(0));
      await until('the build to start', () => client.received.includes('started-stop'));
      const running = readdirSync(tmpdir()).filter((n) => inUse(n) && !leftBefore.has(n));
      assert.equal(running.length, 1, running.join(' '));
      await daemon.stop();
      assert.equal(builders('echo started-stop; sleep'), 0, 'no builder outlives the daemon');
      assert.equal(existsSync(join(tmpdir(), running[0]!)), false, `${running[0]} is still there`);
      assert.notEqual(runNix(nixStore, ['--store', bs.root, '--check-validity', slow.out]).status, 0);
      client.close();
    });

    it('a remote build on tsnix-daemon as an ssh-ng:// builder: nix\'s build hook sends BuildDerivation and copies the output back', () => {
      const remote = tempDir('tsnix-remote-');
      const builder = `ssh-ng://localhost?remote-program=${TSNIX_DAEMON}&remote-store=${remote} x86_64-linux`;
      const r = nixBuildOnBuilder(bs.root, bs.busybox, 'built-remotely', 'echo building on the remote; echo remote > $out', builder);
      assert.equal(r.status, 0, r.stderr);
      const out = r.stdout.trim();
      assert.match(r.stderr, /building '\/nix\/store\/[0-9a-z]{32}-built-remotely\.drv' on 'ssh-ng:\/\/localhost/);
      assert.match(r.stderr, /building on the remote/);
      // Built there (and valid there), copied here.
      assert.equal(runNix(nixStore, ['--store', remote, '--check-validity', out]).status, 0);
      assert.equal(readFileSync(join(remote, out), 'utf8'), 'remote\n');
      assert.equal(readFileSync(join(bs.root, out), 'utf8'), 'remote\n');
    });

    it('BuildDerivation from an untrusted client: input-addressed refused with nix\'s message; fixed-output built at the path its hash gives', async () => {
      await daemon.stop();
      daemon = await startDaemon(bs.root, ['--option', 'trusted-users', 'nobody']);
      const plain = bs.drv('untrusted-plain', 'echo > $out');
      const fixed = bs.drv('untrusted-fixed', 'printf hello > $out', [], {}, { outputHash: 'sha256-LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ=', outputHashAlgo: 'sha256' });
      const client = await RawClient.connect(daemon.socket);
      await client.handshake();
      const ask = (drvPath: string, drv: Derivation): void => client.send(encodeU64(36), encodeString(drvPath), writeBasicDerivation(new WireWriter(), drv).toBuffer(), encodeU64(0));
      ask(plain.drvPath, plain.drv);
      await until('the refusal', () => client.received.includes(STDERR_ERROR));
      assert.ok(client.received.includes('you are not privileged to build input-addressed derivations'));
      client.received = Buffer.alloc(0);
      // A lying output path is not taken from an untrusted client: the build is of the path the hash gives.
      const lie = `${bs.storeDir}/${'1'.repeat(32)}-untrusted-fixed`;
      const lying: Derivation = { ...fixed.drv, inputSrcs: [bs.busybox], outputs: new Map([['out', { ...fixed.drv.outputs.get('out')!, path: lie }]]) };
      ask(fixed.drvPath, lying);
      await until('the BuildResult', () => client.received.includes(STDERR_LAST));
      assert.ok(!client.received.includes(STDERR_ERROR), client.received.toString('latin1'));
      assert.equal(runNix(nixStore, ['--store', bs.root, '--check-validity', fixed.out]).status, 0);
      assert.equal(readFileSync(bs.real(fixed.out), 'utf8'), 'hello');
      assert.notEqual(runNix(nixStore, ['--store', bs.root, '--check-validity', lie]).status, 0);
      const reply = client.received.subarray(client.received.indexOf(STDERR_LAST) + 8);
      assert.equal(reply.readBigUInt64LE(0), 0n, 'status Built');
      client.close();
    });

    it('nix build (BuildPathsWithResults) builds, makes its result link, and reports the outputs as nix does', () => {
      writeFileSync(
        join(bs.root, 'two.nix'),
        `let bb = builtins.storePath "${bs.busybox}"; in derivation {
          name = "two-outs"; system = "x86_64-linux"; outputs = [ "out" "dev" ];
          builder = "\${bb}/bin/busybox"; args = [ "sh" "-c" "echo building two; echo o > $out; echo d > $dev" ];
        }`,
      );
      const nixBuild = "nix --extra-experimental-features nix-command build -f two.nix --option substituters ''";
      const built = client(`${nixBuild} --print-build-logs`);
      assert.equal(built.status, 0, built.stderr);
      assert.match(built.stderr, /building two/);
      const out = readlinkSync(join(bs.root, 'result'));
      assert.match(out, /^\/nix\/store\/[0-9a-z]{32}-two-outs$/);
      assert.equal(readFileSync(join(bs.root, out), 'utf8'), 'o\n');
      // Already valid now: the same answer, as nix's own.
      const again = client(`${nixBuild} --json`);
      assert.equal(again.status, 0, again.stderr);
      const local = spawnSync('unshare', ['-m', 'sh', '-c', `mount --bind ${bs.root}/nix /nix && cd ${bs.root} && ${nixBuild} --json`], { encoding: 'utf8', env: { ...process.env, NIX_REMOTE: '', NIX_CONF_DIR: '/nonexistent' } });
      assert.equal(local.status, 0, local.stderr);
      assert.deepEqual(JSON.parse(again.stdout), JSON.parse(local.stdout));
      // And nix log finds the build's log through the daemon.
      const drv = (JSON.parse(again.stdout) as { drvPath: string }[])[0]!.drvPath;
      const log = client(`nix --extra-experimental-features nix-command log --option substituters '' ${drv}`);
      assert.equal(log.status, 0, log.stderr);
      assert.match(log.stdout, /building two/);
    });
  });

  it('--stdio serves one connection on stdin and stdout', () => {
    const request = Buffer.concat([encodeU64(0x6e697863), encodeU64(0x122), encodeU64(0), encodeU64(0), encodeU64(1), encodeString(paths[1]!)]);
    const r = spawnSync(TSNIX_DAEMON, ['--store', root, '--stdio'], { input: request, env: { ...process.env, TSNIX_CONF_DIR: '/nonexistent' } });
    assert.equal(r.status, 0, r.stderr.toString());
    const out = r.stdout;
    // magic, version, "2.8.0", STDERR_LAST, then the reply: STDERR_LAST, 1.
    assert.equal(out.readBigUInt64LE(0), 0x6478696fn);
    assert.equal(out.readBigUInt64LE(8), 0x122n);
    assert.deepEqual(out.subarray(out.length - 16), Buffer.concat([STDERR_LAST, encodeU64(1)]));
  });
});
