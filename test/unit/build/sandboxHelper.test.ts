import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultHelperPath, writableStoreCommand } from '../../../src/build/sandbox.js';
import { encodeHelperSpec, SPEC_MAGIC, type HelperSpec } from '../../../src/build/sandbox/spec.js';

function frame(...values: (string | Buffer)[]): Buffer {
  return Buffer.concat(
    values.flatMap((v) => {
      const bytes = typeof v === 'string' ? Buffer.from(v) : v;
      const len = Buffer.alloc(4);
      len.writeUInt32LE(bytes.length);
      return [len, bytes];
    }),
  );
}

function runHelper(input: Buffer): { status: number | null; stderr: string; stdout: string } {
  const res = spawnSync(defaultHelperPath(), [], { input, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] });
  return { status: res.status, stderr: res.stderr, stdout: res.stdout };
}

describe('tsnix-helper: the description it reads', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'tsnix-helper-unit-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const base = (): HelperSpec => ({
    namespaces: true,
    root: join(dir, `root-${Math.random().toString(36).slice(2)}`),
    entries: [],
    buildUid: process.getuid!(),
    buildGid: process.getgid!(),
    network: 'private',
    hostname: 'localhost',
    domainname: '(none)',
    uname26: false,
    cwd: '/',
    program: '/bin/busybox',
    argv: ['true'],
    env: {},
  });

  it('frames every string with a 32-bit little-endian length after the magic', () => {
    const bytes = encodeHelperSpec({ ...base(), root: '/r', argv: ['a', 'bé'] });
    assert.equal(bytes.readUInt32LE(0), SPEC_MAGIC.length);
    assert.equal(bytes.subarray(4, 4 + SPEC_MAGIC.length).toString(), SPEC_MAGIC);
    const tail = frame('arg', 'a', 'arg', 'bé');
    assert.ok(bytes.includes(tail));
  });

  const refusals: [string, Buffer, RegExp][] = [
    ['a wrong magic', frame('tsnix-sandbox-0'), /does not start with tsnix-sandbox-1/],
    ['a length past the end', Buffer.concat([frame(SPEC_MAGIC), Buffer.from([0xff, 0xff, 0xff, 0x7f, 0x41])]), /longer than|ends in the middle/],
    ['a truncated length', Buffer.concat([frame(SPEC_MAGIC), Buffer.from([3, 0])]), /ends in the middle of a field/],
    ['an unknown key', frame(SPEC_MAGIC, 'frobnicate', '1'), /\(frobnicate\): unknown key/],
    ['a target with ..', frame(SPEC_MAGIC, 'bind', '/build/../../etc', '/etc', 'r'), /\(bind\): the target must be an absolute path/],
    ['a relative target', frame(SPEC_MAGIC, 'dir', 'tmp', '755', 'root'), /\(dir\): the target must be/],
    ['a NUL inside a string', frame(SPEC_MAGIC, 'program', Buffer.from('/bin/sh\0x')), /\(program\): a string contains a NUL byte/],
    ['a bad number', frame(SPEC_MAGIC, 'build-uid', '-1'), /\(build-uid\): not a valid number/],
    ['bad bind flags', frame(SPEC_MAGIC, 'bind', '/x', '/x', 'rx'), /\(bind\): invalid value/],
    ['no program', frame(SPEC_MAGIC, 'arg', 'true'), /\(program\): required field missing/],
    ['a store-bind before store-dirs', frame(SPEC_MAGIC, 'store-bind', 'abc-x'), /\(store-bind\): invalid value/],
    ['a store-bind name with a slash', frame(SPEC_MAGIC, 'store-dirs', '/nix/store', '/s', 'store-bind', '../etc'), /\(store-bind\): invalid value/],
    ['a store-bind name ..', frame(SPEC_MAGIC, 'store-dirs', '/nix/store', '/s', 'store-bind', '..'), /\(store-bind\): invalid value/],
    ['a store directory with ..', frame(SPEC_MAGIC, 'store-dirs', '/nix/../etc', '/s'), /\(store-dirs\): invalid value/],
    ['a relative view directory', frame(SPEC_MAGIC, 'view-dir', '/nix/store', '1775', 'group', 'view'), /\(view-dir\): invalid value/],
  ];
  for (const [what, input, message] of refusals) {
    it(`refuses ${what} with exit 125 and a message, before running anything`, () => {
      const res = runHelper(input);
      assert.equal(res.status, 125);
      assert.match(res.stderr, /^tsnix-helper: bad sandbox description/);
      assert.match(res.stderr, message);
      assert.equal(res.stdout, '');
    });
  }

  it('sends a whole store path bound read-only as a short store-bind, anything else as a bind', () => {
    const spec = base();
    spec.storeDirs = { logical: '/nix/store', real: '/tmp/s/nix/store' };
    spec.entries = [
      { kind: 'bind', target: '/nix/store/abc-x', source: '/tmp/s/nix/store/abc-x', writable: false, optional: false, nofollow: true },
      { kind: 'bind', target: '/nix/store/abc-y', source: '/elsewhere/abc-y', writable: false, optional: false, nofollow: true },
      { kind: 'bind', target: '/nix/store/abc-z', source: '/tmp/s/nix/store/abc-z', writable: true, optional: false, nofollow: true },
    ];
    const bytes = encodeHelperSpec(spec);
    assert.ok(bytes.includes(frame('store-dirs', '/nix/store', '/tmp/s/nix/store', 'store-bind', 'abc-x')));
    assert.ok(bytes.includes(frame('bind', '/nix/store/abc-y', '/elsewhere/abc-y', 'rn')));
    assert.ok(bytes.includes(frame('bind', '/nix/store/abc-z', '/tmp/s/nix/store/abc-z', 'wn')));
  });

  it('refuses a root directory that already exists, so no state leaks between builds', () => {
    const spec = base();
    spec.root = dir;
    const res = runHelper(encodeHelperSpec(spec));
    assert.equal(res.status, 125);
    assert.match(res.stderr, /cannot create the sandbox root '.*': File exists/);
  });

  it('reports a missing sandbox-path source by name, and skips an optional one', () => {
    const missing = base();
    missing.entries = [{ kind: 'bind', target: '/opt/x', source: '/nonexistent-tsnix', writable: false, optional: false }];
    const res = runHelper(encodeHelperSpec(missing));
    assert.equal(res.status, 125);
    assert.match(res.stderr, /cannot bind '\/nonexistent-tsnix' into the sandbox: the source is missing/);
    const optional = base();
    optional.entries = [
      { kind: 'bind', target: '/opt/x', source: '/nonexistent-tsnix', writable: false, optional: true },
      { kind: 'bind', target: '/bin/busybox', source: '/bin/busybox', writable: false, optional: false },
    ];
    optional.argv = ['sh', '-c', 'test -e /opt/x || echo skipped'];
    const ok = runHelper(encodeHelperSpec(optional));
    assert.equal(ok.status, 0, ok.stderr);
    assert.equal(ok.stdout, 'skipped\n');
  });

  it('offers a mode that makes a read-only store directory writable in a private mount namespace', function () {
    if (process.getuid?.() !== 0) this.skip();
    const store = join(dir, 'ro-store');
    spawnSync('mkdir', ['-p', store]);
    const [helper, ...args] = writableStoreCommand(store, ['touch', join(store, 'written')]);
    const script =
      `mount --bind ${store} ${store} && mount -o remount,bind,ro ${store} && ` +
      `{ touch ${store}/direct 2>/dev/null && echo direct-ok || echo direct-refused; } && ` +
      `"$0" "$@" && echo helper-ok`;
    const res = spawnSync('unshare', ['-m', '--propagation', 'private', 'sh', '-c', script, helper!, ...args], { encoding: 'utf8' });
    assert.equal(res.stdout, 'direct-refused\nhelper-ok\n', res.stderr);
    assert.deepEqual(readdirSync(store), ['written']);
    assert.ok(existsSync(join(store, 'written')));
  });
});
