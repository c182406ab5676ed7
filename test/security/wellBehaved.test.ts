import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildScript, logValue, makeTestStore, type TestStore } from './support/testStore.js';
import { passAsFileName } from '../../src/build/sandbox/environment.js';

describe('sandbox: what a well-behaved builder sees', function () {
  this.timeout(30000);
  let store: TestStore;
  before(() => {
    store = makeTestStore();
  });
  after(() => store.destroy());

  it('runs as uid 1000 / gid 100 in /build, with hostname localhost, domain (none) and loopback up', async () => {
    const { result, log } = await buildScript(
      store,
      'echo "uid=$(id -u)"; echo "gid=$(id -g)"; echo "idline=$(id)"; echo "pwd=$(pwd)"; ' +
        'echo "hostname=$(hostname)"; echo "domain=$(cat /proc/sys/kernel/domainname)"; ' +
        'echo "lo=$(ip -o addr show lo | grep -c "inet 127.0.0.1")"; echo "loflags=$(ip -o link show lo)"; ' +
        'echo "umask=$(umask)"; echo "argv0=$0"; mkdir $out',
    );
    assert.deepEqual(result.status, { kind: 'exited', code: 0 }, log.join('\n'));
    assert.equal(logValue(log, 'uid'), '1000');
    assert.equal(logValue(log, 'gid'), '100');
    assert.equal(logValue(log, 'idline'), 'uid=1000(nixbld) gid=100(nixbld)');
    assert.equal(logValue(log, 'pwd'), '/build');
    assert.equal(logValue(log, 'hostname'), 'localhost');
    assert.equal(logValue(log, 'domain'), '(none)');
    assert.equal(logValue(log, 'lo'), '1');
    assert.match(logValue(log, 'loflags') ?? '', /[<,]UP[,>]/);
    assert.equal(logValue(log, 'umask'), '0022');
    assert.equal(logValue(log, 'argv0'), 'sh');
  });

  it('gets exactly the environment Nix gives a builder', async () => {
    const { result, log, out } = await buildScript(store, 'env | grep -v "^SHLVL=" | sort; touch $out', {
      env: { passAsFile: 'myFile', myFile: 'contents passed as a file' },
      settings: { cores: 3 },
    });
    assert.deepEqual(result.status, { kind: 'exited', code: 0 });
    const env = Object.fromEntries(log.filter((l) => /^[A-Za-z_][A-Za-z0-9_]*=/.test(l)).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
    assert.deepEqual(env, {
      HOME: '/homeless-shelter',
      NIX_BUILD_CORES: '3',
      NIX_BUILD_TOP: '/build',
      NIX_LOG_FD: '2',
      NIX_STORE: '/nix/store',
      PATH: store.bbdir,
      PWD: '/build',
      TEMP: '/build',
      TEMPDIR: '/build',
      TERM: 'xterm-256color',
      TMP: '/build',
      TMPDIR: '/build',
      builder: `${store.bbdir}/sh`,
      myFilePath: `/build/${passAsFileName('myFile')}`,
      name: 'test-build',
      out,
      outputs: 'out',
      passAsFile: 'myFile',
      system: 'x86_64-linux',
    });
  });

  it('puts passAsFile values in /build/.attr-<nix32 sha256 of the name>', async () => {
    assert.equal(passAsFileName('myFile'), '.attr-0l7a3dvs2rjgkvmi5r069nzahjmlys628r4fdby1wmc87hl7i13v');
    const { result, log } = await buildScript(store, 'echo "content=$(cat $myFilePath)"; touch $out', {
      env: { passAsFile: 'myFile', myFile: 'contents passed as a file' },
    });
    assert.deepEqual(result.status, { kind: 'exited', code: 0 });
    assert.equal(logValue(log, 'content'), 'contents passed as a file');
  });

  it('gets exportReferencesGraph files in the format of Nix 2.8', async () => {
    const dep = store.addFile('dep', 'f', 'dep\n');
    const top = store.addFile('top', 'f', `uses ${dep}\n`);
    const { result, log } = await buildScript(store, 'cat /build/graph; echo "owner=$(stat -c %u /build/graph)"; touch $out', {
      inputs: [dep, top],
      env: { exportReferencesGraph: `graph ${top}` },
      extra: {
        referenceGraph: (paths) => {
          assert.deepEqual(paths, [top]);
          return new Map([
            [top, [dep, top]],
            [dep, []],
          ]);
        },
      },
    });
    assert.deepEqual(result.status, { kind: 'exited', code: 0 }, log.join('\n'));
    const [first, second] = [dep, top].sort();
    const expected = [first, '', first === dep ? '0' : '2', ...(first === dep ? [] : [dep, top].sort()), second, '', second === dep ? '0' : '2', ...(second === dep ? [] : [dep, top].sort())];
    assert.deepEqual(log.slice(0, expected.length), expected);
    assert.equal(logValue(log, 'owner'), '65534');
    await assert.rejects(
      buildScript(store, 'true', { env: { exportReferencesGraph: `graph ${store.outsider}` }, extra: { referenceGraph: () => new Map() } }),
      /'exportReferencesGraph' contains a non-store path '.*-outsider' or one outside the inputs/,
    );
  });

  it('sees the root, /dev, /etc and the store laid out as in Nix 2.8', async () => {
    const { result, log } = await buildScript(
      store,
      'echo root=$(ls /); echo dev=$(ls /dev); echo etc=$(ls /etc); echo store=$(ls /nix/store); ' +
        'echo "passwd=$(cat /etc/passwd)"; echo "group=$(cat /etc/group)"; echo "hosts=$(cat /etc/hosts)"; ' +
        'echo "null=$(stat -c %t,%T /dev/null)"; echo "shm=$(stat -c %a /dev/shm)"; echo "tmp=$(stat -c %a /tmp)"; ' +
        'echo hi > /dev/null && echo devnull=ok; echo x > /tmp/t && echo x > /dev/shm/t && echo tmpwrite=ok; touch $out',
    );
    assert.deepEqual(result.status, { kind: 'exited', code: 0 }, log.join('\n'));
    assert.deepEqual(logValue(log, 'root')?.split(/\s+/), ['build', 'dev', 'etc', 'nix', 'proc', 'tmp']);
    assert.deepEqual(logValue(log, 'dev')?.split(/\s+/), ['fd', 'full', 'null', 'ptmx', 'pts', 'random', 'shm', 'stderr', 'stdin', 'stdout', 'tty', 'urandom', 'zero']);
    assert.deepEqual(logValue(log, 'etc')?.split(/\s+/), ['group', 'hosts', 'passwd']);
    assert.deepEqual(logValue(log, 'store')?.split(/\s+/), [store.bbdir.slice('/nix/store/'.length)]);
    const passwdAt = log.indexOf(`passwd=root:x:0:0:Nix build user:/build:/noshell`);
    assert.ok(passwdAt >= 0, log.join('\n'));
    assert.equal(log[passwdAt + 1], 'nixbld:x:1000:100:Nix build user:/build:/noshell');
    assert.equal(log[passwdAt + 2], 'nobody:x:65534:65534:Nobody:/:/noshell');
    assert.ok(log.includes('group=root:x:0:') && log.includes('nixbld:!:100:') && log.includes('nogroup:x:65534:'));
    assert.ok(log.includes('hosts=127.0.0.1 localhost') && log.includes('::1 localhost'));
    assert.equal(logValue(log, 'null'), '1,3');
    assert.equal(logValue(log, 'shm'), '1777');
    assert.equal(logValue(log, 'tmp'), '1777');
    assert.equal(logValue(log, 'devnull'), 'ok');
    assert.equal(logValue(log, 'tmpwrite'), 'ok');
  });

  it('streams the log, reports the exit code, and copies the output to the real store', async () => {
    const ok = await buildScript(store, 'echo building; mkdir -p $out/bin; echo hello > $out/bin/greeting; echo done');
    assert.deepEqual(ok.result.status, { kind: 'exited', code: 0 });
    assert.deepEqual(ok.log, ['building', 'done']);
    const copied = ok.result.outputs['out'];
    assert.equal(copied, join(store.realStoreDir, ok.out.slice('/nix/store/'.length)));
    assert.equal(readFileSync(join(copied!, 'bin', 'greeting'), 'utf8'), 'hello\n');

    const failed = await buildScript(store, 'echo oops >&2; exit 3');
    assert.deepEqual(failed.result.status, { kind: 'exited', code: 3 });
    assert.deepEqual(failed.log, ['oops']);
    assert.deepEqual(failed.result.outputs, {});
  });
});
