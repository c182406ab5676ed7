import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseHookOutput, PreBuildHookError, runPreBuildHook } from '../../../src/build/preBuildHook.js';
import { tempDir } from '../../support/cli.js';

const DRV = '/nix/store/fdyg52bay60n65nhxz8dpizafkqqzrxp-t.drv';
const SANDBOX = '/tmp/build-1/root';

describe('pre-build hook (the pre-build-hook setting)', () => {
  let scratch: string;
  beforeEach(() => {
    scratch = tempDir('tsnix-hook-');
  });
  afterEach(() => rmSync(scratch, { recursive: true, force: true }));

  /** Writes an executable shell script and returns its path. */
  function hook(name: string, body: string, mode = 0o755): string {
    const path = join(scratch, name);
    writeFileSync(path, `#!/bin/sh\n${body}\n`, { mode });
    return path;
  }

  function rejectsWith(promise: Promise<unknown>, message: string): Promise<void> {
    return assert.rejects(promise, (err: Error) => {
      assert.ok(err instanceof PreBuildHookError, `${err.name}: ${err.message}`);
      assert.equal(err.message, message);
      return true;
    });
  }

  it('adds the sandbox paths a hook prints, and gets the .drv path and the sandbox root as arguments', async () => {
    const path = hook(
      'two-paths',
      `printf '%s\\n' "$#" "$1" "$2" > "${scratch}/args"
echo extra-sandbox-paths
echo /foo=/bin/sh
echo /etc/ssl
echo`,
    );
    assert.deepEqual(await runPreBuildHook({ hook: path, drvPath: DRV, sandboxDir: SANDBOX }), ['/foo=/bin/sh', '/etc/ssl']);
    assert.equal(readFileSync(join(scratch, 'args'), 'utf8'), `2\n${DRV}\n${SANDBOX}\n`);
  });

  it('passes only the .drv path when the build is not sandboxed', async () => {
    const path = hook('args', `printf '%s\\n' "$#" "$1" > "${scratch}/args"`);
    assert.deepEqual(await runPreBuildHook({ hook: path, drvPath: DRV }), []);
    assert.equal(readFileSync(join(scratch, 'args'), 'utf8'), `1\n${DRV}\n`);
  });

  it('accepts the old name extra-chroot-dirs, several sections, and the environment it is given', async () => {
    const path = hook(
      'chroot-dirs',
      `echo extra-chroot-dirs
echo /data
echo
echo extra-sandbox-paths
echo "/run/$HOOK_VAR=/srv/$HOOK_VAR"
echo`,
    );
    assert.deepEqual(await runPreBuildHook({ hook: path, drvPath: DRV, sandboxDir: SANDBOX, env: { ...process.env, HOOK_VAR: 'keys' } }), [
      '/data',
      '/run/keys=/srv/keys',
    ]);
  });

  it('adds nothing when the hook prints nothing', async () => {
    assert.deepEqual(await runPreBuildHook({ hook: hook('silent', 'exit 0'), drvPath: DRV, sandboxDir: SANDBOX }), []);
  });

  it("fails with Nix's message and the last line of the hook's stderr when the hook fails", async () => {
    const path = hook('fails', 'echo extra-sandbox-paths\necho "looking for keys" >&2\necho "cannot find the key" >&2\nexit 3');
    const stderr: string[] = [];
    await rejectsWith(
      runPreBuildHook({ hook: path, drvPath: DRV, sandboxDir: SANDBOX, onStderrLine: (line) => stderr.push(line) }),
      `pre-build hook program '${path}' failed with exit code 3: cannot find the key`,
    );
    assert.deepEqual(stderr, ['looking for keys', 'cannot find the key']);
  });

  it('keeps the message on one line whatever the hook writes on stderr', async () => {
    const path = hook('noisy', `printf 'first\\r\\n\\033[31;1merror:\\033[0m bad\\tkey\\rcarriage\\r\\n' >&2\nexit 2`);
    await rejectsWith(runPreBuildHook({ hook: path, drvPath: DRV }), `pre-build hook program '${path}' failed with exit code 2: error: bad\tkey?carriage`);
  });

  it('fails without a stderr line when the hook wrote none', async () => {
    const path = hook('quiet-failure', 'exit 1');
    await rejectsWith(runPreBuildHook({ hook: path, drvPath: DRV }), `pre-build hook program '${path}' failed with exit code 1`);
  });

  it('names the signal when the hook is killed', async () => {
    const path = hook('killed', 'kill -9 $$');
    await rejectsWith(runPreBuildHook({ hook: path, drvPath: DRV }), `pre-build hook program '${path}' failed due to signal 9 (Killed)`);
  });

  it('fails when the hook is not executable or does not exist', async () => {
    const path = hook('not-executable', 'echo extra-sandbox-paths', 0o644);
    await rejectsWith(runPreBuildHook({ hook: path, drvPath: DRV }), `pre-build hook program '${path}' failed: executing '${path}': Permission denied`);
    const missing = join(scratch, 'missing');
    await rejectsWith(runPreBuildHook({ hook: missing, drvPath: DRV }), `pre-build hook program '${missing}' failed: executing '${missing}': No such file or directory`);
  });

  it("refuses output that is not the hook protocol, with Nix's message", async () => {
    const path = hook('garbage', 'echo hello world');
    await rejectsWith(runPreBuildHook({ hook: path, drvPath: DRV }), `unknown pre-build hook command 'hello world' (printed by pre-build hook '${path}')`);
  });

  it('stops a hook that prints without end', async () => {
    const path = hook('endless', 'echo extra-sandbox-paths\nyes /path');
    await rejectsWith(runPreBuildHook({ hook: path, drvPath: DRV }), `pre-build hook '${path}' printed more than 1048576 bytes; it should print only sandbox paths`);
  });

  it('stops the hook and rejects with the reason when the build is cancelled', async () => {
    const path = hook('slow', `echo $$ > "${scratch}/pid"\necho started >&2\nexec sleep 1000`);
    const controller = new AbortController();
    await assert.rejects(
      runPreBuildHook({ hook: path, drvPath: DRV, signal: controller.signal, onStderrLine: () => controller.abort() }),
      (err: Error) => err.name === 'AbortError',
    );
    const pid = Number(readFileSync(join(scratch, 'pid'), 'utf8'));
    // The kill is asynchronous: poll until the process is gone (bounded, not timed).
    for (let tries = 0; ; tries++) {
      try {
        process.kill(pid, 0);
      } catch (err) {
        assert.equal((err as NodeJS.ErrnoException).code, 'ESRCH');
        break;
      }
      assert.ok(tries < 1000, `hook ${pid} still runs`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  });

  describe('its output, as Nix reads it', () => {
    it('ignores a last line without its newline', () => {
      assert.deepEqual(parseHookOutput('extra-sandbox-paths\n/a\n/b', 'h'), ['/a']);
      assert.deepEqual(parseHookOutput('extra-sandbox-paths', 'h'), []);
    });

    it('takes a section left open at the end', () => {
      assert.deepEqual(parseHookOutput('extra-sandbox-paths\n/a=/b\n', 'h'), ['/a=/b']);
    });

    it('refuses an empty line where a command is expected', () => {
      assert.throws(() => parseHookOutput('\n', '/etc/hook'), { name: 'PreBuildHookError', message: "unknown pre-build hook command '' (printed by pre-build hook '/etc/hook')" });
      assert.throws(() => parseHookOutput('extra-sandbox-paths\n/a\n\n\n', 'h'), /unknown pre-build hook command ''/);
    });
  });
});
