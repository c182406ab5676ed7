import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { addAttackBinary, attackResults } from './support/attackBinary.js';
import { buildScript, logValue, makeTestStore, type TestStore } from './support/testStore.js';

describe('sandbox: a builder cannot gain privileges', function () {
  this.timeout(60000);
  let store: TestStore;
  let attack: string;
  before(() => {
    store = makeTestStore();
    attack = addAttackBinary(store);
  });
  after(() => store.destroy());

  it('cannot mount, chroot, pivot_root, ptrace, kill PID 1, become root or make devices', async () => {
    const { result, log } = await buildScript(store, `${attack}/attack syscalls ${process.pid}; touch $out`, { inputs: [attack] });
    assert.deepEqual(result.status, { kind: 'exited', code: 0 }, log.join('\n'));
    const seen = attackResults(log);
    // uid 0 is not even mapped in the sandbox's user namespace.
    assert.match(seen.get('setuid-0') ?? '', /^(EPERM|EINVAL)$/);
    for (const name of ['mount-tmpfs', 'mount-proc', 'bind-root', 'chroot', 'pivot-root', 'mknod-null', 'sethostname']) {
      assert.equal(seen.get(name), 'EPERM', `${name}: ${seen.get(name)}`);
    }
    // PID 1 is not dumpable and holds capabilities the builder lacks; host processes do not exist in its namespace.
    assert.equal(seen.get('ptrace-pid1'), 'EPERM');
    assert.equal(seen.get('ptrace-host'), 'ESRCH');
    assert.equal(seen.get('kill-host'), 'ESRCH');
    assert.equal(seen.get('open-pid1-environ'), 'EACCES');
    assert.equal(seen.get('open-pid1-root'), 'EACCES');
    // The signal to an init from inside its namespace is dropped: kill reports success, nothing happens.
    assert.ok(seen.has('kill-pid1'));
  });

  it('cannot mount or chroot with busybox either, as the shell user sees it', async () => {
    const { log } = await buildScript(
      store,
      'mkdir /tmp/m; mount -t tmpfs none /tmp/m; echo "mount=$?"; chroot / true; echo "chroot=$?"; ' +
        'pivot_root /tmp /tmp/m; echo "pivot=$?"; umount /build; echo "umount=$?"; touch $out',
    );
    for (const key of ['mount', 'chroot', 'pivot', 'umount']) assert.notEqual(logValue(log, key), '0', `${key} succeeded`);
    assert.ok(log.some((l) => /mount.*(Operation not permitted|Permission denied)/.test(l)), log.join('\n'));
  });

  it('cannot make a setuid or setgid file, by any chmod call', async () => {
    const { result, log, out } = await buildScript(store, `mkdir $out; ${attack}/attack setuid $out/prog; chmod u+s $out/prog; echo "busybox=$?"`, {
      inputs: [attack],
    });
    assert.deepEqual(result.status, { kind: 'exited', code: 0 }, log.join('\n'));
    const seen = attackResults(log);
    // Kernels without ia32 emulation kill a process that tries the 32-bit entry point.
    assert.match(seen.get('int80-chmod-4755') ?? '', /^(EPERM|unavailable)$/);
    for (const name of ['chmod-4755', 'chmod-2755', 'fchmod-4755', 'fchmodat-4755', 'fchmodat2-4755']) {
      assert.equal(seen.get(name), 'EPERM', `${name}: ${seen.get(name)}`);
    }
    assert.equal(seen.get('chmod-0755'), 'ok');
    // No extended attribute by any call (setxattrat and file_setattr came with Linux 6.13/6.17: where
    // the kernel lacks them the filter still answers first).
    for (const name of ['setxattr', 'fsetxattr', 'setxattrat', 'file-setattr']) assert.equal(seen.get(name), 'EOPNOTSUPP', `${name}: ${seen.get(name)}`);
    assert.equal(seen.get('mode'), '755');
    assert.equal(logValue(log, 'busybox'), '1');
    const copied = result.outputs['out']!;
    assert.ok(copied.endsWith(out.slice('/nix/store/'.length)));
    assert.equal(statSync(`${copied}/prog`).mode & 0o7000, 0);
  });
});
