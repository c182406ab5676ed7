import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { waitUntil } from './support/processes.js';
import { buildScript, makeTestStore, type ScriptBuild, type TestStore } from './support/testStore.js';

const GROUP = 'nixbld';

/** The members of `group` as uid -> name, and its gid, from the host's /etc files. */
function groupMembers(group: string): { gid: number; members: Map<number, string> } | undefined {
  const line = readFileSync('/etc/group', 'utf8').split('\n').find((l) => l.startsWith(`${group}:`));
  if (!line) return undefined;
  const [, , gid, names] = line.split(':');
  const wanted = new Set((names ?? '').split(',').filter((n) => n !== ''));
  const members = new Map<number, string>();
  for (const entry of readFileSync('/etc/passwd', 'utf8').split('\n')) {
    const [name, , uid] = entry.split(':');
    if (name && wanted.has(name)) members.set(Number(uid), name);
  }
  return { gid: Number(gid), members };
}

/**
 * Creates a file in /build and in $out, says "started", then holds its build user until the
 * test drops /build/go (at most 60 s), so the builds that print it overlap.
 */
const HOLDING_BUILDER = [
  'touch /build/mine; mkdir $out; touch $out/mine; echo started',
  'i=0; while [ ! -e /build/go ] && [ $i -lt 1200 ]; do sleep 0.05; i=$((i+1)); done',
  'echo "waited=$i"',
].join('\n');

/**
 * The build directories of the builds running under `parent`: fresh ones (nix-build-*) or
 * sandboxes kept between builds (tsnix-sandbox-*, whose store view is `store` inside), those
 * where a build has written `build/mine`.
 */
function runningBuilds(parent: string): string[] {
  if (!existsSync(parent)) return [];
  return readdirSync(parent)
    .filter((name) => name.startsWith('nix-build-') || name.startsWith('tsnix-sandbox-'))
    .map((name) => join(parent, name))
    .filter((top) => existsSync(join(top, 'build', 'mine')));
}

/**
 * The host-side owners of what each running build created under `parent`; the owners of the
 * outputs (in each build's own store directory or store view) must be the same users.
 */
function ownersOfRunningBuilds(store: TestStore, parent: string): { top: string; build: number; gid: number }[] {
  const builds = runningBuilds(parent).map((top) => {
    const mine = statSync(join(top, 'build', 'mine'));
    return { top, build: mine.uid, gid: mine.gid };
  });
  const storeDirs = builds.flatMap((b) => [join(b.top, 'root', store.storeDir), join(b.top, 'store')]).filter((dir) => existsSync(dir));
  const outputOwners = storeDirs.flatMap((dir) =>
    readdirSync(dir)
      .filter((base) => base.endsWith('-test-build') || base.endsWith('-child-build'))
      .map((base) => statSync(join(dir, base, 'mine')).uid),
  );
  const byNumber = (a: number, b: number): number => a - b;
  assert.deepEqual(outputOwners.sort(byNumber), builds.map((b) => b.build).sort(byNumber), 'the outputs and the build directories were written by different users');
  return builds;
}

function release(parent: string): void {
  for (const top of runningBuilds(parent)) writeFileSync(join(top, 'build', 'go'), '');
}

describe('sandbox: concurrent builds as root get distinct members of build-users-group', function () {
  this.timeout(120000);
  let store: TestStore;
  before(function () {
    if (process.getuid?.() !== 0 || !groupMembers(GROUP)) this.skip();
    store = makeTestStore();
  });
  after(() => store?.destroy());

  function assertDistinctBuildUsers(owners: { build: number; gid: number }[]): void {
    const group = groupMembers(GROUP)!;
    assert.equal(owners.length, 2, `running builds: ${owners.length}`);
    const [a, b] = owners.map((o) => o.build);
    assert.notEqual(a, b, `both builds ran as uid ${a}`);
    for (const owner of owners) {
      assert.ok(group.members.has(owner.build), `uid ${owner.build} is not a member of ${GROUP}`);
      assert.notEqual(owner.build, 0);
      assert.equal(owner.gid, group.gid);
    }
  }

  it('two builds of one driver, running at the same time, build as two different nixbld users', async () => {
    const parent = join(store.root, 'builds');
    const started = [false, false];
    const builds: Promise<ScriptBuild>[] = started.map((_, i) =>
      buildScript(store, HOLDING_BUILDER, {
        extra: {
          onLogLine: (line) => {
            if (line === 'started') started[i] = true;
          },
        },
      }),
    );
    try {
      assert.ok(await waitUntil(() => started.every(Boolean), 60000), 'the two builds did not both start');
      assertDistinctBuildUsers(ownersOfRunningBuilds(store, parent));
    } finally {
      release(parent);
      const results = await Promise.all(builds);
      for (const { result } of results) assert.deepEqual(result.status, { kind: 'exited', code: 0 });
    }
  });

  /**
   * A holding build in a child driver process (build directories under `childParent`) and one
   * here (under `hereParent`, with `herePool`), both running at once; then the owners of what
   * each wrote. The child keeps its pool in <childParent>/userpool, or uses the driver's
   * default with `childDefaultPool`.
   */
  async function buildInTwoProcesses(childParent: string, hereParent: string, herePool: string | undefined, childDefaultPool: boolean): Promise<void> {
    let childOutput = '';
    let hereStarted = false;
    const child: ChildProcess = spawn(
      process.execPath,
      [fileURLToPath(new URL('./support/runBuildChild.js', import.meta.url)), store.realStoreDir, store.bbdir, childParent, HOLDING_BUILDER, 'normal'],
      { env: { ...process.env, RUN_BUILD_DEFAULT_POOL: childDefaultPool ? '1' : '0' } },
    );
    child.stdout!.on('data', (chunk: Buffer) => (childOutput += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => (childOutput += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    let here: Promise<ScriptBuild> | undefined;
    const parents = [...new Set([childParent, hereParent])];
    try {
      assert.ok(await waitUntil(() => childOutput.includes('started'), 60000), childOutput);
      here = buildScript(store, HOLDING_BUILDER, {
        extra: {
          buildDirParent: hereParent,
          userPoolDir: herePool,
          onLogLine: (line) => {
            if (line === 'started') hereStarted = true;
          },
        },
      });
      assert.ok(await waitUntil(() => hereStarted, 60000), 'the second build did not start');
      assertDistinctBuildUsers(parents.flatMap((parent) => ownersOfRunningBuilds(store, parent)));
    } finally {
      for (const parent of parents) release(parent);
      assert.equal(await exited, 0, childOutput);
      if (here) assert.deepEqual((await here).result.status, { kind: 'exited', code: 0 });
    }
    assert.match(childOutput, /status=\{"kind":"exited","code":0\}/);
  }

  it('a build in another driver process sharing the user pool gets a different nixbld user', async () => {
    const parent = join(store.root, 'builds-shared');
    await buildInTwoProcesses(parent, parent, join(parent, 'userpool'), false);
  });

  it('two driver processes with different build directories and the default user pool build as different users', async () => {
    await buildInTwoProcesses(join(store.root, 'builds-default-a'), join(store.root, 'builds-default-b'), undefined, true);
  });
});
