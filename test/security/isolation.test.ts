import assert from 'node:assert/strict';
import { hostname } from 'node:os';
import { readFileSync } from 'node:fs';
import { buildScript, logValue, makeTestStore, type TestStore } from './support/testStore.js';

describe('sandbox: a builder cannot see the host', function () {
  this.timeout(30000);
  let store: TestStore;
  before(() => {
    store = makeTestStore();
  });
  after(() => store.destroy());

  it('sees only its own processes in /proc and ps', async () => {
    const { log } = await buildScript(
      store,
      `echo pids=$(ls /proc | grep -E '^[0-9]+$'); echo "mine=$(test -e /proc/${process.pid} && echo yes || echo no)"; ` +
        `echo "init=$(cat /proc/1/cmdline | tr '\\0' ' ')"; cat /proc/1/environ; echo "environ=$?"; touch $out`,
    );
    const pids = (logValue(log, 'pids') ?? '').split(/\s+/).map(Number);
    // PID 1 (the reaper), the shell, and the pipeline's processes; nothing of the host.
    assert.ok(pids.length <= 6 && pids.every((p) => p < 10), `pids: ${pids.join(' ')}`);
    assert.equal(logValue(log, 'mine'), 'no');
    // The reaper shows no host path, and its environment is closed to the builder.
    assert.equal(logValue(log, 'init')?.trim(), 'sandbox-init');
    assert.equal(logValue(log, 'environ'), '1');
  });

  it('cannot read /etc/shadow or any host file outside what is bound in', async () => {
    const { log } = await buildScript(
      store,
      'cat /etc/shadow; echo "shadow=$?"; ls /root /home /usr /var /bin 2>&1 | head -5; echo "hostdirs=$(ls / | tr "\\n" " ")"; touch $out',
    );
    assert.equal(logValue(log, 'shadow'), '1');
    assert.ok(log.includes('cat: can\'t open \'/etc/shadow\': No such file or directory'), log.join('\n'));
    assert.equal(logValue(log, 'hostdirs'), 'build dev etc nix proc tmp ');
  });

  it('cannot reach a store path outside its input closure', async () => {
    const { log } = await buildScript(store, `cat ${store.outsider}/secret; echo "status=$?"; echo store=$(ls /nix/store); touch $out`);
    assert.equal(logValue(log, 'status'), '1');
    assert.ok(!log.some((l) => l.includes('outside the closure')));
    assert.equal(logValue(log, 'store'), store.bbdir.slice('/nix/store/'.length));
    // The same path is readable once it is an input.
    const allowed = await buildScript(store, `cat ${store.outsider}/secret; touch $out`, { inputs: [store.outsider] });
    assert.deepEqual(allowed.log, ['outside the closure']);
  });

  it('with a large closure (bound through a read-only staging mount) still sees only its inputs, read-only', async () => {
    const inputs = Array.from({ length: 12 }, (_, i) => store.addFile(`many-${i}`, 'data', `input ${i}\n`, 0o644));
    const { result, log } = await buildScript(
      store,
      `echo count=$(ls /nix/store | wc -l); cat ${store.outsider}/secret; echo "outsider=$?"; ` +
        `echo x > ${inputs[3]}/data; echo "write=$?"; echo mounts=$(grep -c " /nix/store " /proc/self/mountinfo); ` +
        `echo stage=$(grep -c stage /proc/self/mountinfo); touch $out`,
      { inputs },
    );
    assert.deepEqual(result.status, { kind: 'exited', code: 0 }, log.join('\n'));
    assert.equal(logValue(log, 'count'), String(inputs.length + 1));
    assert.equal(logValue(log, 'outsider'), '1');
    assert.equal(logValue(log, 'write'), '1');
    assert.ok(log.some((l) => l.includes('Read-only file system')), log.join('\n'));
    // The store directory is at most the bind of its on-disk directory (as root the rest of the root
    // is a tmpfs), never the host's store, and no staging mount is left.
    assert.ok(Number(logValue(log, 'mounts')) <= 1, log.join('\n'));
    assert.equal(logValue(log, 'stage'), '0');
  });

  it('sees hostname localhost, not the host name, and cannot change it for the host', async () => {
    const { log } = await buildScript(store, 'hostname; hostname evil-host; echo "set=$?"; touch $out');
    assert.equal(log[0], 'localhost');
    assert.notEqual(log[0], hostname() === 'localhost' ? 'never' : hostname());
    assert.equal(logValue(log, 'set'), '1');
    assert.equal(hostname(), readFileSync('/proc/sys/kernel/hostname', 'utf8').trim());
    assert.notEqual(hostname(), 'evil-host');
  });

  it('sees kernel release 2.6.x when impersonate-linux-26 is on, the real one otherwise', async () => {
    const real = readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim();
    const on = await buildScript(store, 'echo "release=$(uname -r)"; touch $out', { settings: { impersonateLinux26: true } });
    assert.match(logValue(on.log, 'release') ?? '', /^2\.6\.\d+/);
    assert.notEqual(logValue(on.log, 'release'), real);
    const off = await buildScript(store, 'echo "release=$(uname -r)"; touch $out');
    assert.equal(logValue(off.log, 'release'), real);
  });
});
