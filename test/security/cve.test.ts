import assert from 'node:assert/strict';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, readFileSync, readlinkSync, readdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { addAttackBinary, attackBinary, attackResults } from './support/attackBinary.js';
import { processesWith, uniqueSleep, waitUntil } from './support/processes.js';
import { buildScript, logValue, makeTestStore, randomHashPart, type TestStore } from './support/testStore.js';

/** The accomplice outside the build: receives a descriptor on an abstract socket, tampers on request. */
function startAccomplice(name: string): { child: ChildProcessWithoutNullStreams; output: () => string } {
  const child = spawn(attackBinary(), ['receive', name]);
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  return { child, output: () => output };
}

/** Nothing the build started is still running: its background sleeper, the sender of the descriptor. */
function assertNoProcessOfTheBuild(sleep: string, socketName: string): void {
  assert.deepEqual(processesWith(sleep), [], 'a process of the build outlived it');
  assert.deepEqual(processesWith(`send ${socketName}`), [], 'the sender outlived the build');
}

function sha256File(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

describe('sandbox: escapes that were real Nix vulnerabilities', function () {
  this.timeout(60000);
  let store: TestStore;
  let attack: string;
  before(() => {
    store = makeTestStore();
    attack = addAttackBinary(store);
  });
  after(() => store.destroy());

  describe('CVE-2024-27297 / CVE-2025-46416: a fixed-output builder passes a descriptor of $out out of the build', () => {
    it('cannot reach an abstract socket of the host: pasta gives the build its own network namespace', async () => {
      const name = `tsnix-cve-${randomBytes(6).toString('hex')}`;
      const accomplice = startAccomplice(name);
      try {
        assert.ok(await waitUntil(() => accomplice.output().includes('listen: ok'), 20000), accomplice.output());
        const sleep = uniqueSleep();
        const { result, log } = await buildScript(store, `sleep ${sleep} & mkdir $out; echo good > $out/file; ${attack}/attack send ${name} $out`, {
          inputs: [attack],
          fixedOutput: true,
        });
        assert.deepEqual(result.status, { kind: 'exited', code: 0 }, log.join('\n'));
        assertNoProcessOfTheBuild(sleep, name);
        assert.equal(attackResults(log).get('connect-abstract'), 'ECONNREFUSED');
        assert.ok(!accomplice.output().includes('accept'));
        assert.equal(readFileSync(join(result.outputs['out']!, 'file'), 'utf8'), 'good\n');
      } finally {
        accomplice.child.kill('SIGKILL');
      }
    });

    it('even when the descriptor gets out (host network), the registered output is a copy it cannot change', async () => {
      const name = `tsnix-cve-${randomBytes(6).toString('hex')}`;
      const accomplice = startAccomplice(name);
      try {
        assert.ok(await waitUntil(() => accomplice.output().includes('listen: ok'), 20000), accomplice.output());
        const sleep = uniqueSleep();
        const { result, log } = await buildScript(store, `mkdir $out; echo good > $out/file; (exec sleep ${sleep} <$out) & ${attack}/attack send ${name} $out`, {
          inputs: [attack],
          fixedOutput: true,
          extra: { pasta: null, keepBuildDir: true },
        });
        assert.deepEqual(result.status, { kind: 'exited', code: 0 }, log.join('\n'));
        assertNoProcessOfTheBuild(sleep, name);
        assert.equal(attackResults(log).get('sendmsg'), 'ok');
        assert.ok(await waitUntil(() => accomplice.output().includes('received: ok'), 20000), accomplice.output());
        // After the output is registered, the accomplice writes through its descriptor.
        accomplice.child.stdin.write('tamper\n');
        assert.ok(await waitUntil(() => accomplice.output().includes('tamper-symlink'), 20000), accomplice.output());
        const seen = attackResults(accomplice.output().split('\n'));
        assert.equal(seen.get('tamper-write'), 'ok', 'the accomplice did change the directory it got');
        const copied = result.outputs['out']!;
        assert.equal(readFileSync(join(copied, 'file'), 'utf8'), 'good\n');
        assert.deepEqual(readdirSync(copied), ['file']);
      } finally {
        accomplice.child.kill('SIGKILL');
      }
    });
  });

  describe('CVE-2024-27297 / CVE-2025-46416: a fixed-output builder passes a descriptor of its build directory out', () => {
    for (const keepBuildDir of [false, true]) {
      it(`the accomplice can neither change the registered output nor plant files in it${keepBuildDir ? ' (build directory kept)' : ''}`, async () => {
        const name = `tsnix-cve-${randomBytes(6).toString('hex')}`;
        const accomplice = startAccomplice(name);
        try {
          assert.ok(await waitUntil(() => accomplice.output().includes('listen: ok'), 20000), accomplice.output());
          const sleep = uniqueSleep();
          const { result, log, out } = await buildScript(
            store,
            [
              'mkdir $out; echo good > $out/file; echo build > /build/file; chmod -R a+rwX /build $out',
              `(cd /build && exec sleep ${sleep}) &`,
              `${attack}/attack send ${name} /build`,
            ].join('\n'),
            { inputs: [attack], fixedOutput: true, extra: { pasta: null, keepBuildDir } },
          );
          assert.deepEqual(result.status, { kind: 'exited', code: 0 }, log.join('\n'));
          assertNoProcessOfTheBuild(sleep, name);
          assert.equal(attackResults(log).get('sendmsg'), 'ok', log.join('\n'));
          assert.ok(await waitUntil(() => accomplice.output().includes('received: ok'), 20000), accomplice.output());
          const base = out.slice(`${store.storeDir}/`.length);
          // From the build directory: up into the sandbox's store, the driver's build root, the real store.
          const attempts = [
            ['climb-sandbox', `../nix/store/${base}`],
            ['climb-root', `../root/nix/store/${base}`],
            ['climb-store', `../../../nix/store/${base}`],
          ] as const;
          for (const [label, dir] of attempts) {
            accomplice.child.stdin.write(`write ${label} ${dir}/file\nplant ${label}-plant ${dir}/planted\n`);
          }
          accomplice.child.stdin.write('tamper\n');
          assert.ok(await waitUntil(() => accomplice.output().includes('tamper-symlink'), 20000), accomplice.output());
          const seen = attackResults(accomplice.output().split('\n'));
          for (const [label] of attempts) {
            assert.notEqual(seen.get(`${label}-open`), 'ok', `${label}: ${accomplice.output()}`);
            assert.notEqual(seen.get(`${label}-plant`), 'ok', `${label}: ${accomplice.output()}`);
          }
          // The descriptor is live: it reaches the kept build directory, and nothing once that is removed.
          assert.equal(seen.get('tamper-open'), keepBuildDir ? 'ok' : 'ENOENT', accomplice.output());
          if (keepBuildDir) assert.equal(readFileSync(join(result.buildDir!, 'build', 'file'), 'utf8'), 'tampered\n');
          const copied = result.outputs['out']!;
          assert.equal(readFileSync(join(copied, 'file'), 'utf8'), 'good\n');
          assert.deepEqual(readdirSync(copied), ['file']);
        } finally {
          accomplice.child.kill('SIGKILL');
        }
      });
    }
  });

  describe('CVE-2025-46415, CVE-2025-52991/52992/52993, CVE-2026-39860: symlinks planted for the driver to follow', () => {
    it('builds in a directory no other user can enter', async () => {
      const { result } = await buildScript(store, 'touch $out', { extra: { keepBuildDir: true } });
      const top = result.buildDir!;
      const topStat = statSync(top);
      assert.equal(topStat.mode & 0o777, 0o700);
      assert.equal(topStat.uid, process.getuid!());
      assert.equal(statSync(join(top, 'build')).mode & 0o777, 0o700);
    });

    it('cleanup never follows symlinks the builder put in /build, even to host files and store paths', async () => {
      const canary = join(store.root, `canary-${randomBytes(4).toString('hex')}`);
      mkdirSync(canary);
      writeFileSync(join(canary, 'keep'), 'keep me\n');
      const shadowBefore = sha256File('/etc/shadow');
      const input = store.addFile('victim', 'data', 'store data\n', 0o644);
      const buildsDir = join(store.root, 'builds');
      // Kept sandboxes (tsnix-sandbox-*) stay between builds, emptied: only build directories count.
      const buildDirs = (): string[] => (existsSync(buildsDir) ? readdirSync(buildsDir).filter((n) => !n.startsWith('tsnix-sandbox-')) : []);
      const keptBefore = buildDirs();
      const { result, log } = await buildScript(
        store,
        [
          `ln -s ${canary} /build/canary-dir`,
          `ln -s ${canary}/keep /build/canary-file`,
          'ln -s /etc/shadow /build/shadow',
          `ln -s ${input}/data /build/store-file`,
          `for f in /build/.attr-*; do rm -f $f; ln -s /etc/shadow $f; done`,
          'mkdir -p /build/locked/deep && touch /build/locked/deep/f && chmod 000 /build/locked/deep /build/locked',
          'mkdir -p /tmp/x && ln -s /etc/shadow /tmp/x/s',
          'touch $out',
        ].join('; '),
        { inputs: [input], env: { passAsFile: 'big', big: 'passed' } },
      );
      assert.deepEqual(result.status, { kind: 'exited', code: 0 }, log.join('\n'));
      assert.equal(readFileSync(join(canary, 'keep'), 'utf8'), 'keep me\n');
      assert.equal(sha256File('/etc/shadow'), shadowBefore);
      const realInput = join(store.realStoreDir, input.slice('/nix/store/'.length), 'data');
      assert.equal(readFileSync(realInput, 'utf8'), 'store data\n');
      assert.deepEqual(buildDirs(), keptBefore, 'the build directory was not removed');
      for (const kept of readdirSync(buildsDir).filter((n) => n.startsWith('tsnix-sandbox-'))) {
        // Its build directory is gone (moved aside and deleted) or empty.
        const left = readdirSync(join(buildsDir, kept)).sort();
        assert.ok(left.join() === 'build,store' || left.join() === 'store', `${kept} holds ${left.join(' ')}`);
        if (left.includes('build')) assert.deepEqual(readdirSync(join(buildsDir, kept, 'build')), [], `${kept}/build was not emptied`);
      }
    });

    it('an input store path that is a symlink to a host file shows as the symlink, not the file', async () => {
      const canary = join(store.root, `host-secret-${randomBytes(4).toString('hex')}`);
      writeFileSync(canary, 'host secret\n');
      // What an earlier build's `ln -s /etc/shadow $out` leaves in the store.
      const linkBase = `${randomHashPart()}-evil-link`;
      symlinkSync(canary, join(store.realStoreDir, linkBase));
      const many = Array.from({ length: 9 }, (_, i) => store.addText(`pad-${i}`, 'x'));
      for (const inputs of [[`/nix/store/${linkBase}`], [`/nix/store/${linkBase}`, ...many]]) {
        const { result, log } = await buildScript(
          store,
          `cat /nix/store/${linkBase}; echo "cat=$?"; echo "link=$(readlink /nix/store/${linkBase})"; touch $out`,
          { inputs },
        );
        assert.deepEqual(result.status, { kind: 'exited', code: 0 }, log.join('\n'));
        assert.ok(!log.includes('host secret'), log.join('\n'));
        assert.equal(logValue(log, 'cat'), '1');
        assert.equal(logValue(log, 'link'), canary);
      }
    });

    it('copying an output copies symlinks as symlinks, never what they point to', async () => {
      const withLinks = await buildScript(
        store,
        `mkdir $out; ln -s /etc/shadow $out/secret; ln -s ${store.outsider}/secret $out/store; ln -s ../../../../../../../etc/shadow $out/climb; echo ok > $out/plain`,
      );
      const copied = withLinks.result.outputs['out']!;
      for (const [name, target] of [
        ['secret', '/etc/shadow'],
        ['store', `${store.outsider}/secret`],
        ['climb', '../../../../../../../etc/shadow'],
      ] as const) {
        assert.ok(lstatSync(join(copied, name)).isSymbolicLink(), `${name} is not a symlink`);
        assert.equal(readlinkSync(join(copied, name)), target);
      }
      assert.equal(readFileSync(join(copied, 'plain'), 'utf8'), 'ok\n');

      const outIsLink = await buildScript(store, 'ln -s /etc/shadow $out');
      const linked = outIsLink.result.outputs['out']!;
      assert.ok(lstatSync(linked).isSymbolicLink());
      assert.equal(readlinkSync(linked), '/etc/shadow');
      assert.ok(existsSync('/etc/shadow'));
    });
  });
});
