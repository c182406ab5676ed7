import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { addAttackBinary, attackResults } from './support/attackBinary.js';
import { logValue, makeTestStore, type TestStore } from './support/testStore.js';

/** The unprivileged user the driver runs as in these tests. */
const NOBODY = 65534;

/** Runs a build with the driver as an unprivileged user (setpriv), returns its output lines. */
function buildAsNobody(store: TestStore, script: string, kind: string, inputs: string[] = []): string[] {
  const runner = fileURLToPath(new URL('./support/runBuildChild.js', import.meta.url));
  const res = spawnSync(
    'setpriv',
    [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', process.execPath, runner, store.realStoreDir, store.bbdir, join(store.root, 'builds'), script, kind, ...inputs],
    { encoding: 'utf8', timeout: 20000 },
  );
  assert.equal(res.status, 0, `${res.stdout}\n${res.stderr}`);
  return res.stdout.split('\n');
}

describe('sandbox: run by an unprivileged user (user namespace)', function () {
  this.timeout(60000);
  let store: TestStore;
  let attack: string;
  before(function () {
    if (process.getuid?.() !== 0) this.skip();
    store = makeTestStore();
    attack = addAttackBinary(store);
    execFileSync('chown', ['-R', `${NOBODY}:${NOBODY}`, store.root]);
  });
  after(() => store?.destroy());

  it('runs the builder as uid 1000 in its own namespaces, with the same view as under root', () => {
    const log = buildAsNobody(
      store,
      'echo "idline=$(id)"; echo "hostname=$(hostname)"; echo "map=$(cat /proc/self/uid_map | tr -s " ")"; echo root=$(ls /); ' +
        `echo pids=$(ls /proc | grep -E '^[0-9]+$'); cat /etc/shadow; echo "shadow=$?"; touch $out`,
      'normal',
    );
    assert.equal(logValue(log, 'status'), '{"kind":"exited","code":0}', log.join('\n'));
    assert.equal(logValue(log, 'idline'), 'uid=1000(nixbld) gid=100(nixbld)');
    assert.equal(logValue(log, 'hostname'), 'localhost');
    assert.equal(logValue(log, 'map'), ` 1000 ${NOBODY} 1`);
    assert.equal(logValue(log, 'root'), 'build dev etc nix proc tmp');
    assert.equal(logValue(log, 'shadow'), '1');
  });

  it('cannot change an input file it owns on the host (bound read-only, never hard-linked)', () => {
    const text = store.addText('owned-input', 'mine\n');
    execFileSync('chown', [`${NOBODY}:${NOBODY}`, join(store.realStoreDir, text.slice('/nix/store/'.length))]);
    const log = buildAsNobody(store, `echo more >> ${text}; echo "append=$?"; chmod 666 ${text}; echo "chmod=$?"; touch $out`, 'normal', [text]);
    assert.notEqual(logValue(log, 'append'), '0', log.join('\n'));
    assert.notEqual(logValue(log, 'chmod'), '0');
    assert.equal(readFileSync(join(store.realStoreDir, text.slice('/nix/store/'.length)), 'utf8'), 'mine\n');
  });

  it('still refuses mount, ptrace of PID 1 and setuid files', () => {
    const log = buildAsNobody(store, `${attack}/attack syscalls 1; mkdir $out; ${attack}/attack setuid $out/f`, 'normal', [attack]);
    const seen = attackResults(log);
    for (const name of ['mount-tmpfs', 'bind-root', 'chroot', 'pivot-root', 'ptrace-pid1', 'chmod-4755', 'fchmodat-4755']) {
      assert.equal(seen.get(name), 'EPERM', `${name}: ${seen.get(name)}\n${log.join('\n')}`);
    }
    assert.equal(seen.get('open-pid1-environ'), 'EACCES');
  });

  it('gives a fixed-output build its network through pasta run as that user', function () {
    // pasta needs /dev/net/tun; some machines keep it root-only (0600).
    if ((statSync('/dev/net/tun').mode & 0o006) !== 0o006) this.skip();
    const log = buildAsNobody(store, 'echo routes=$(ip route | head -1); echo fetched > $out', 'fixed-output');
    assert.equal(logValue(log, 'status'), '{"kind":"exited","code":0}', log.join('\n'));
    if (log.some((l) => l.startsWith('warning:'))) this.skip();
    assert.match(logValue(log, 'routes') ?? '', /^default via/);
  });
});
