import assert from 'node:assert/strict';
import { join } from 'node:path';
import { SandboxPolicyError, SandboxSetupError } from '../../../src/build/sandbox.js';
import { builderEnvironment } from '../../../src/build/sandbox/environment.js';
import { sandboxLayout } from '../../../src/build/sandbox/layout.js';
import { parseSandboxPath } from '../../../src/build/sandbox/settings.js';
import { processesWith, uniqueSleep } from '../../security/support/processes.js';
import { buildScript, logValue, makeTestStore, type TestStore } from '../../security/support/testStore.js';

describe('sandbox driver: settings', function () {
  this.timeout(30000);
  let store: TestStore;
  let plain: TestStore;
  before(() => {
    store = makeTestStore();
    plain = makeTestStore({ undiverted: true });
  });
  after(() => {
    store.destroy();
    plain.destroy();
  });

  it('parses sandbox-paths entries as Nix does', () => {
    assert.deepEqual(parseSandboxPath('/bin/sh=/nix/store/x-bb/bin/sh'), { target: '/bin/sh', source: '/nix/store/x-bb/bin/sh', optional: false });
    assert.deepEqual(parseSandboxPath('/dev/kvm?'), { target: '/dev/kvm', source: '/dev/kvm', optional: true });
    assert.deepEqual(parseSandboxPath('/a=/b?'), { target: '/a', source: '/b', optional: true });
  });

  it('orders bind mounts so that a parent is mounted before what lies inside it', () => {
    const entries = sandboxLayout({
      storeDir: '/nix/store',
      realStoreDir: '/r/nix/store',
      storePaths: ['/nix/store/b-x', '/nix/store/a-x'],
      buildDir: '/top/build',
      sandboxPaths: ['/usr/lib/x=/opt/x', '/usr=/opt/usr?'],
      isFixedOutput: false,
    });
    const binds = entries.filter((e) => e.kind === 'bind').map((e) => e.target);
    assert.deepEqual(binds, ['/build', '/nix/store/a-x', '/nix/store/b-x', '/usr', '/usr/lib/x']);
    const sources = entries.filter((e) => e.kind === 'bind').map((e) => (e.kind === 'bind' ? e.source : ''));
    assert.ok(sources.includes('/r/nix/store/a-x'));
  });

  it('gives fixed-output builds the impureEnvVars of the caller and NIX_OUTPUT_CHECKED', () => {
    const { env } = builderEnvironment({
      drvEnv: { impureEnvVars: 'http_proxy NOT_SET', out: '/nix/store/x' },
      storeDir: '/nix/store',
      buildDir: '/build',
      cores: 0,
      isFixedOutput: true,
      impureSource: { http_proxy: 'http://proxy:3128' },
    });
    assert.equal(env['http_proxy'], 'http://proxy:3128');
    assert.equal(env['NOT_SET'], '');
    assert.equal(env['NIX_OUTPUT_CHECKED'], '1');
    const normal = builderEnvironment({
      drvEnv: { impureEnvVars: 'http_proxy' },
      storeDir: '/nix/store',
      buildDir: '/build',
      cores: 0,
      isFixedOutput: false,
      impureSource: { http_proxy: 'x' },
    });
    assert.equal(normal.env['http_proxy'], undefined);
  });

  it('refuses __noChroot with sandbox = true, in Nix words', async () => {
    await assert.rejects(
      buildScript(store, 'touch $out', { env: { __noChroot: '1' } }),
      (error: Error) =>
        error instanceof SandboxPolicyError &&
        /derivation 'test-build' has '__noChroot' set, but that's not allowed when 'sandbox' is 'true'/.test(error.message),
    );
  });

  it('builds a __noChroot derivation on the host with sandbox = relaxed, as a build user, killing leftovers', async () => {
    const sleep = uniqueSleep();
    const { result, log } = await buildScript(
      plain,
      `echo "uid=$(id -u)"; echo "pwd=$(pwd)"; echo "top=$NIX_BUILD_TOP"; echo "hostname=$(hostname)"; (setsid sleep ${sleep} &); touch $out`,
      { env: { __noChroot: '1' }, settings: { sandbox: 'relaxed' } },
    );
    assert.deepEqual(result.status, { kind: 'exited', code: 0 }, log.join('\n'));
    assert.equal(result.sandboxed, false);
    if (process.getuid?.() === 0) assert.notEqual(logValue(log, 'uid'), '0');
    assert.equal(logValue(log, 'pwd'), logValue(log, 'top'));
    assert.match(logValue(log, 'pwd') ?? '', new RegExp(`^${join(plain.root, 'builds')}/nix-build-test-build-[^/]+/build$`));
    assert.deepEqual(processesWith(sleep), []);
    assert.ok(result.outputs['out']?.startsWith(plain.realStoreDir));
  });

  it('refuses to build without a sandbox into a store that is not at its logical place', async () => {
    await assert.rejects(buildScript(store, 'touch $out', { settings: { sandbox: 'false' } }), /building using a diverted store is not supported/);
  });

  it('binds sandbox-paths, with the closure of a store path, and skips a missing optional one', async () => {
    // No inputs at all: busybox reaches the sandbox only as the closure of the sandbox-path.
    let asked: string[] = [];
    const { result, log } = await buildScript(store, 'echo "sh=$(/bin/sh -c "echo works")"; test -e /opt/none || echo none=absent; touch $out', {
      inputs: [],
      settings: { sandboxPaths: [`/bin/sh=${store.bbdir}/busybox`], extraSandboxPaths: ['/opt/none=/nonexistent-tsnix?'] },
      extra: {
        inputPaths: [],
        closureOf: (paths) => {
          asked = paths;
          return paths;
        },
      },
    });
    assert.deepEqual(asked, [store.bbdir]);
    assert.deepEqual(result.status, { kind: 'exited', code: 0 }, log.join('\n'));
    assert.equal(logValue(log, 'sh'), 'works');
    assert.equal(logValue(log, 'none'), 'absent');
  });

  it('fails with the helper message when a required sandbox-path is missing', async () => {
    await assert.rejects(
      buildScript(store, 'touch $out', { settings: { sandboxPaths: ['/opt/x=/nonexistent-tsnix'] } }),
      (error: Error) => error instanceof SandboxSetupError && /cannot bind '\/nonexistent-tsnix' into the sandbox: the source is missing/.test(error.message),
    );
  });

  it('writes passAsFile files owned by the build user, readable only through /build', async () => {
    const { log } = await buildScript(store, 'stat -c "%u %a" $fPath; touch $out', { env: { passAsFile: 'f', f: 'v' } });
    assert.equal(log[0], '1000 644');
  });
});

describe('sandbox driver: log lines', function () {
  this.timeout(30000);
  let store: TestStore;
  before(() => {
    store = makeTestStore();
  });
  after(() => store.destroy());

  it('cuts a line that never ends into pieces instead of buffering it all', async () => {
    const { result, log } = await buildScript(store, 'head -c 3000000 /dev/zero | tr "\\0" x; echo; echo after; touch $out');
    assert.deepEqual(result.status, { kind: 'exited', code: 0 });
    assert.ok(log.length >= 3, `only ${log.length} lines`);
    assert.ok(log.every((line) => line.length <= 1 << 21));
    assert.equal(log.join('').replace(/after$/, '').length, 3000000);
    assert.equal(log[log.length - 1], 'after');
  });
});
