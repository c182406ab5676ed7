/**
 * Builds are started by one `tsnix-helper --serve` process. Its death must end every build it
 * started, at once and with an error, and the next build must get a new server.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { defaultHelperPath } from '../../src/build/sandbox.js';
import { HelperServer } from '../../src/build/sandbox/helperServer.js';
import { processesWith, uniqueSleep, waitUntil } from './support/processes.js';
import { buildScript, makeTestStore, type TestStore } from './support/testStore.js';

describe('sandbox: the helper server', function () {
  this.timeout(60000);
  let store: TestStore;
  before(() => {
    store = makeTestStore();
  });
  after(() => store.destroy());

  it('when the server is killed, its running build fails with a message and leaves no process; the next build works', async () => {
    const sleep = uniqueSleep();
    let started = false;
    const building = buildScript(store, `echo started; sleep ${sleep}`, { extra: { onLogLine: (line) => (started = started || line === 'started') } });
    const outcome = building.then(
      () => 'finished',
      (error: Error) => error.message,
    );
    assert.ok(await waitUntil(() => started, 30000), 'the build started');
    const pid = HelperServer.for(defaultHelperPath()).pid!;
    process.kill(pid, 'SIGKILL');
    assert.match(await outcome, /the sandbox helper server '.*' exited/);
    assert.ok(await waitUntil(() => processesWith(sleep).length === 0, 20000), `left: ${processesWith(sleep).join(' ')}`);
    const next = await buildScript(store, 'echo again; touch $out');
    assert.deepEqual(next.result.status, { kind: 'exited', code: 0 });
    assert.notEqual(HelperServer.for(defaultHelperPath()).pid, pid);
  });

  /** The server's children: the helper forked ahead of the next request, and running builds. */
  function childrenOf(pid: number): number[] {
    const text = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim();
    return text === '' ? [] : text.split(' ').map(Number);
  }

  /** Whether pid is gone (or a zombie nobody has reaped yet). */
  function gone(pid: number): boolean {
    try {
      return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.startsWith('Z');
    } catch {
      return true;
    }
  }

  it('keeps one helper forked ahead of the next build; a dead one is replaced, and none outlives the server', async () => {
    await buildScript(store, 'touch $out');
    const server = HelperServer.for(defaultHelperPath()).pid!;
    assert.ok(await waitUntil(() => childrenOf(server).length === 1, 10000), `children: ${childrenOf(server).join(' ')}`);
    const [spare] = childrenOf(server) as [number];
    process.kill(spare, 'SIGKILL');
    assert.ok(await waitUntil(() => gone(spare), 10000), 'the killed spare was reaped');
    const next = await buildScript(store, 'echo still; touch $out');
    assert.deepEqual(next.result.status, { kind: 'exited', code: 0 });
    assert.deepEqual(next.log, ['still']);
    assert.ok(await waitUntil(() => childrenOf(server).length === 1, 10000), `children: ${childrenOf(server).join(' ')}`);
    const [waiting] = childrenOf(server) as [number];
    assert.notEqual(waiting, spare);
    process.kill(server, 'SIGKILL');
    assert.ok(await waitUntil(() => gone(waiting), 10000), `the waiting helper ${waiting} outlived its server`);
    const after = await buildScript(store, 'touch $out');
    assert.deepEqual(after.result.status, { kind: 'exited', code: 0 });
  });

  it('many builds at once are kept apart: each gets its own output and log', async () => {
    const builds = await Promise.all(Array.from({ length: 6 }, (_, i) => buildScript(store, `echo build ${i}; echo ${i} > $out`)));
    for (const [i, build] of builds.entries()) {
      assert.deepEqual(build.result.status, { kind: 'exited', code: 0 });
      assert.deepEqual(build.log.filter((l) => l.startsWith('build ')), [`build ${i}`]);
    }
  });
});
