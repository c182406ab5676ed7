import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { processesWith, uniqueSleep, waitUntil } from './support/processes.js';
import { buildScript, makeTestStore, type TestStore } from './support/testStore.js';

describe('sandbox: nothing of a build outlives it', function () {
  this.timeout(30000);
  let store: TestStore;
  before(() => {
    store = makeTestStore();
  });
  after(() => store.destroy());

  it('kills a background sleep 1000 when the builder exits, and returns at once', async () => {
    const sleep = uniqueSleep();
    const started = Date.now();
    const { result } = await buildScript(store, `sleep ${sleep} & (sleep ${sleep} &) ; setsid sleep ${sleep} & echo started; touch $out`);
    const elapsed = Date.now() - started;
    assert.deepEqual(result.status, { kind: 'exited', code: 0 });
    // At once: nowhere near the sleeps' 1000 s, with room for a loaded machine.
    assert.ok(elapsed < 10000, `the build took ${elapsed} ms`);
    // Not polled: when the build has returned, its processes are already gone.
    assert.deepEqual(processesWith(sleep), []);
  });

  it('dies with its driver: SIGKILL of the driver leaves no process of the build', async () => {
    const sleep = uniqueSleep();
    const child = spawn(process.execPath, [
      fileURLToPath(new URL('./support/runBuildChild.js', import.meta.url)),
      store.realStoreDir,
      store.bbdir,
      join(store.root, 'builds'),
      `sleep ${sleep} & echo started; sleep ${sleep}`,
      "normal",
    ]);
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    try {
      assert.ok(await waitUntil(() => output.includes('started'), 30000), output);
      // The builder shell and its two sleeps.
      assert.ok(await waitUntil(() => processesWith(sleep).length === 3, 20000), `found ${processesWith(sleep).length}`);
      child.kill('SIGKILL');
      // Well under the sleeps' 1000 s; the kernel's PR_SET_PDEATHSIG delivery is not instant on a loaded machine.
      assert.ok(await waitUntil(() => processesWith(sleep).length === 0, 20000), `left: ${processesWith(sleep).join(' ')}`);
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('kills the build on timeout and reports it', async () => {
    const sleep = uniqueSleep();
    const started = Date.now();
    const { result } = await buildScript(store, `echo going; sleep ${sleep}`, { settings: { timeout: 1 } });
    const elapsed = Date.now() - started;
    assert.deepEqual(result.status, { kind: 'timed-out', seconds: 1 });
    // Not before the timeout (timers may fire a little early), and long before the 1000 s sleep ends.
    assert.ok(elapsed >= 950 && elapsed < 10000, `the build took ${elapsed} ms`);
    assert.deepEqual(processesWith(sleep), []);
  });

  it('kills the build after max-silent-time without output, but not while it talks', async () => {
    const sleep = uniqueSleep();
    const silent = await buildScript(store, `echo one; sleep ${sleep}`, { settings: { maxSilentTime: 2 } });
    assert.deepEqual(silent.result.status, { kind: 'silent', seconds: 2 });
    assert.deepEqual(processesWith(sleep), []);
    // Silent for at most 0.25 s at a time (1.75 s of slack for load), talking for longer than the limit.
    const chatty = await buildScript(store, 'i=0; while [ $i -lt 12 ]; do echo $i; sleep 0.25; i=$((i+1)); done; touch $out', {
      settings: { maxSilentTime: 2 },
    });
    assert.deepEqual(chatty.result.status, { kind: 'exited', code: 0 }, chatty.log.join('\n'));
    assert.equal(chatty.log.length, 12);
  });

  it('kills the build once it has written more than max-build-log-size bytes', async () => {
    const sleep = uniqueSleep();
    const { result } = await buildScript(store, `i=0; while [ $i -lt 100 ]; do echo 0123456789012345678901234567890123456789 >&2; i=$((i+1)); done; sleep ${sleep}`, {
      settings: { maxLogSize: 2000 },
    });
    assert.deepEqual(result.status, { kind: 'log-limit', bytes: 2000 });
    assert.deepEqual(processesWith(sleep), []);
  });

  it('kills the build when its AbortSignal fires', async () => {
    const sleep = uniqueSleep();
    const controller = new AbortController();
    const building = buildScript(store, `echo started; sleep ${sleep}`, {
      extra: { signal: controller.signal, onLogLine: () => controller.abort() },
    });
    const { result } = await building;
    assert.deepEqual(result.status, { kind: 'cancelled' });
    assert.deepEqual(processesWith(sleep), []);
  });
});
