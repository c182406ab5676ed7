/**
 * Parts of the sandbox that outlive a build, as root: the kept sandbox with its store view (a
 * build directory and a store directory the driver keeps between builds: keptSandboxes.ts,
 * helper-c/storeview.c) and the pooled loopback-only network namespace (helper-c/serve.c). A builder that leaves things in either must not reach a later
 * build: planted store entries, a replaced input, a listening socket. Each test also shows
 * that the part really was shared, or it would prove nothing.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { buildScript, logValue, makeTestStore, type TestStore } from './support/testStore.js';

/** Prints where the sandbox's store directory comes from on the host (its mount root) and its network namespace. */
const WHERE = `echo view=$(grep ' /nix/store ' /proc/self/mountinfo | head -1 | cut -d' ' -f4); echo net=$(readlink /proc/self/ns/net)`;

describe('sandbox: parts kept between builds', function () {
  this.timeout(60000);
  let store: TestStore;
  before(function () {
    if (process.getuid?.() !== 0) this.skip();
    store = makeTestStore();
  });
  after(() => store?.destroy());

  it('what a builder plants in the store view is gone before the next build, which sees exactly its inputs', async () => {
    const later = store.addText('later-input', 'the real content\n');
    const laterBase = basename(later);
    const first = await buildScript(
      store,
      `${WHERE}; cd /nix/store; echo planted > ${laterBase}; mkdir -p junk/deeper; echo x > junk/deeper/file; chmod 555 junk/deeper; ` +
        `ln -s /etc evil; mkfifo fifo 2>/dev/null || mknod fifo p; ls -a /nix/store | tr '\\n' ' '; echo; touch $out`,
    );
    assert.deepEqual(first.result.status, { kind: 'exited', code: 0 }, first.log.join('\n'));
    const second = await buildScript(store, `${WHERE}; echo listing=$(ls -a /nix/store | tr '\\n' ' '); echo later=$(cat /nix/store/${laterBase}); touch $out`, {
      inputs: [later],
    });
    assert.deepEqual(second.result.status, { kind: 'exited', code: 0 }, second.log.join('\n'));
    assert.ok(logValue(first.log, 'view'), first.log.join('\n'));
    assert.equal(logValue(second.log, 'view'), logValue(first.log, 'view'), 'the two builds did not share a store view');
    assert.equal(logValue(second.log, 'later'), 'the real content');
    const expected = ['.', '..', basename(store.bbdir), laterBase].sort();
    assert.deepEqual(logValue(second.log, 'listing')!.split(' ').filter((n) => n !== '').sort(), expected);
  });

  it('what a builder leaves in /build and /tmp (a read-only tree, symlinks out) is gone for the next build in the same sandbox', async () => {
    const canary = join(store.root, 'canary');
    mkdirSync(canary);
    writeFileSync(join(canary, 'keep'), 'keep me\n');
    const first = await buildScript(
      store,
      `${WHERE}; mkdir -p /build/a/b /tmp/c; echo x > /build/a/b/f; chmod 000 /build/a/b /build/a; ln -s ${canary} /tmp/c/l; ` +
        `ln -s ${canary}/keep /build/l; echo x > /tmp/t; touch $out`,
    );
    assert.deepEqual(first.result.status, { kind: 'exited', code: 0 }, first.log.join('\n'));
    const second = await buildScript(store, `${WHERE}; echo build=$(ls -A /build | tr '\\n' ' ') tmp=$(ls -A /tmp | tr '\\n' ' '); touch $out`);
    assert.equal(logValue(second.log, 'view'), logValue(first.log, 'view'), 'the two builds did not share a sandbox');
    const line = second.log.find((l) => l.startsWith('build='));
    assert.equal(line?.replace(/ +/g, ' ').trim(), 'build= tmp=', second.log.join('\n'));
    assert.equal(readFileSync(join(canary, 'keep'), 'utf8'), 'keep me\n');
  });

  it('an empty /build whose mode the builder changed is a new one for the next build', async () => {
    const first = await buildScript(store, `${WHERE}; chmod 777 /build; touch $out`);
    assert.deepEqual(first.result.status, { kind: 'exited', code: 0 }, first.log.join('\n'));
    const second = await buildScript(store, `${WHERE}; echo mode=$(stat -c %a /build); touch $out`);
    assert.equal(logValue(second.log, 'view'), logValue(first.log, 'view'), 'the two builds did not share a sandbox');
    assert.equal(logValue(second.log, 'mode'), '700');
  });

  it('an input replaced between two builds (a new inode, as a repair makes) is shown with its new content', async () => {
    const input = store.addText('replaced-input', 'old\n');
    const first = await buildScript(store, `${WHERE}; echo content=$(cat ${input}); touch $out`, { inputs: [input] });
    assert.equal(logValue(first.log, 'content'), 'old', first.log.join('\n'));
    const real = join(store.realStoreDir, basename(input));
    writeFileSync(`${real}.new`, 'new\n', { mode: 0o444 });
    renameSync(`${real}.new`, real);
    const second = await buildScript(store, `${WHERE}; echo content=$(cat ${input}); touch $out`, { inputs: [input] });
    assert.equal(logValue(second.log, 'view'), logValue(first.log, 'view'), 'the two builds did not share a store view');
    assert.equal(logValue(second.log, 'content'), 'new');
  });

  it('the view of a build that was killed (its processes may outlive the helper for a moment) is deleted, not used again', async () => {
    const killed = await buildScript(store, `${WHERE}; sleep 1000 & sleep 1000`, { settings: { timeout: 1 } });
    assert.deepEqual(killed.result.status, { kind: 'timed-out', seconds: 1 });
    const view = logValue(killed.log, 'view');
    assert.ok(view, killed.log.join('\n'));
    assert.equal(existsSync(view), false, `${view} is still there`);
    const next = await buildScript(store, `${WHERE}; touch $out`);
    assert.deepEqual(next.result.status, { kind: 'exited', code: 0 }, next.log.join('\n'));
    assert.notEqual(logValue(next.log, 'view'), view);
  });

  it('a later build finds its network namespace as new after one made connections (no counters, no sockets left)', async () => {
    // Loopback traffic, a listener left, a socket in time-wait.
    const talker = await buildScript(
      store,
      `${WHERE}; nc -l -p 7777 >/dev/null & sleep 0.3; nc -w 1 127.0.0.1 7777 </dev/null; echo self=$?; nc -l -p 7778 >/dev/null & sleep 0.3; touch $out`,
    );
    assert.equal(logValue(talker.log, 'self'), '0', talker.log.join('\n'));
    // What a build sees first: loopback's packet counters and every socket of its namespace.
    const look =
      `${WHERE}; echo lo=$(grep ' lo:' /proc/net/dev | tr -s ' ' | cut -d' ' -f4,12); ` +
      `echo sockets=$(cat /proc/net/tcp /proc/net/tcp6 /proc/net/udp /proc/net/udp6 /proc/net/unix | grep -vc -e local_address -e RefCount); touch $out`;
    // Time for each namespace to come back (when its helper has exited); then builds at once
    // take every namespace the pool holds.
    const pause = (): Promise<unknown> => new Promise((resolve) => setTimeout(resolve, 300));
    await pause();
    const later = [await buildScript(store, look)];
    await pause();
    later.push(...(await Promise.all(Array.from({ length: 4 }, () => buildScript(store, look)))));
    for (const next of later) {
      assert.equal(logValue(next.log, 'lo'), '0 0', next.log.join('\n'));
      assert.equal(logValue(next.log, 'sockets'), '0', next.log.join('\n'));
    }
  });

  it('the builder holds no descriptor but its three standard ones (none of the pooled namespace, the store directory or the helper)', async () => {
    // ls lists its own descriptors (it has closed the one it read the directory through).
    const { result, log } = await buildScript(store, 'ls -l /proc/self/fd > /build/fds; while read -r line; do echo "fd: $line"; done < /build/fds; touch $out');
    assert.deepEqual(result.status, { kind: 'exited', code: 0 }, log.join('\n'));
    const fds = log.filter((l) => l.startsWith('fd: ') && l.includes(' -> ')).map((l) => l.replace(/.* (\d+) -> (.*)$/, '$1 $2'));
    assert.deepEqual(
      fds.map((f) => f.split(' ')[0]),
      ['0', '1', '2'],
      fds.join('\n'),
    );
    assert.match(fds[1]!, /^1 \/build\/fds$/);
  });

  it('builds running at the same time get network namespaces of their own', async () => {
    const parent = join(store.root, 'builds');
    const holding = `${WHERE}; touch /build/mine; echo started; i=0; while [ ! -e /build/go ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done; touch $out`;
    const logs: string[][] = [[], []];
    const started = (i: number): boolean => logs[i]!.includes('started');
    const builds = logs.map((log) => buildScript(store, holding, { extra: { onLogLine: (line) => log.push(line) } }));
    const deadline = Date.now() + 30000;
    while (!(started(0) && started(1)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const bothStarted = started(0) && started(1);
    for (const name of readdirSync(parent).filter((n) => n.startsWith('tsnix-sandbox-') || n.startsWith('nix-build-'))) {
      if (existsSync(join(parent, name, 'build', 'mine'))) writeFileSync(join(parent, name, 'build', 'go'), '');
    }
    await Promise.all(builds);
    assert.ok(bothStarted, 'the two builds did not both start');
    const [a, b] = logs as [string[], string[]];
    assert.notEqual(logValue(a, 'net'), logValue(b, 'net'));
    assert.notEqual(logValue(a, 'view'), logValue(b, 'view'));
  });
});
