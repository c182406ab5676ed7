/**
 * Builds are started by one `tsnix-helper --serve` process. Its death must end every build it
 * started, at once and with an error, and the next build must get a new server.
 */
import assert from 'node:assert/strict';
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

  it('many builds at once are kept apart: each gets its own output and log', async () => {
    const builds = await Promise.all(Array.from({ length: 6 }, (_, i) => buildScript(store, `echo build ${i}; echo ${i} > $out`)));
    for (const [i, build] of builds.entries()) {
      assert.deepEqual(build.result.status, { kind: 'exited', code: 0 });
      assert.deepEqual(build.log.filter((l) => l.startsWith('build ')), [`build ${i}`]);
    }
  });
});
