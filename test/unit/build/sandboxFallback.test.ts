import assert from 'node:assert/strict';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { defaultHelperPath, SandboxSetupError } from '../../../src/build/sandbox.js';
import { buildScript, logValue, makeTestStore, type TestStore } from '../../security/support/testStore.js';

/** A helper that fails as on a kernel without user namespaces whenever it is asked for them. */
function noNamespacesHelper(dir: string): string {
  const path = join(dir, 'helper-without-namespaces');
  writeFileSync(
    path,
    `#!/bin/sh
# The description has "namespaces", a 4-byte length (1, 0, 0, 0) and "1" or "0".
input=$(mktemp)
cat > "$input"
if tr -d '\\000-\\037' < "$input" | grep -q namespaces1; then
  echo "tsnix-helper: cannot create the sandbox's namespaces: Operation not permitted" >&2
  rm -f "$input"
  exit 125
fi
exec ${defaultHelperPath()} < "$input"
`,
  );
  chmodSync(path, 0o755);
  return path;
}

describe('sandbox driver: sandbox-fallback', function () {
  this.timeout(30000);
  let store: TestStore;
  let helper: string;
  let direct: string | undefined;
  before(() => {
    store = makeTestStore({ undiverted: true });
    helper = noNamespacesHelper(store.root);
    // The stand-in helper is a shell script that knows no --serve: start it once per build.
    direct = process.env['TSNIX_HELPER_DIRECT'];
    process.env['TSNIX_HELPER_DIRECT'] = '1';
  });
  after(() => {
    if (direct === undefined) delete process.env['TSNIX_HELPER_DIRECT'];
    else process.env['TSNIX_HELPER_DIRECT'] = direct;
    store.destroy();
  });

  it('builds without the sandbox, with a warning, when namespaces are unavailable and sandbox-fallback is true', async () => {
    const { result, log, warnings } = await buildScript(store, 'echo "pwd=$(pwd)"; touch $out', { extra: { helper } });
    assert.deepEqual(result.status, { kind: 'exited', code: 0 }, log.join('\n'));
    assert.equal(result.sandboxed, false);
    assert.notEqual(logValue(log, 'pwd'), '/build');
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!, /cannot create the sandbox's namespaces: Operation not permitted; building without a sandbox \('sandbox-fallback' is true\)/);
  });

  it('fails the build instead when sandbox-fallback is false', async () => {
    await assert.rejects(
      buildScript(store, 'touch $out', { extra: { helper }, settings: { sandboxFallback: false } }),
      (error: Error) => error instanceof SandboxSetupError && /cannot create the sandbox's namespaces/.test(error.message),
    );
  });
});
