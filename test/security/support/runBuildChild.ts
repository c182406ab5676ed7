/**
 * A driver in its own process, so a test can SIGKILL it mid-build:
 *   node runBuildChild.js <realStoreDir> <bbdir> <buildDirParent> <script> [fixed-output] [input...]
 * Prints each log line of the build on stdout.
 */
import { DEFAULT_SANDBOX_SETTINGS, runSandboxedBuild } from '../../../src/build/sandbox.js';
import { randomHashPart, STORE_DIR } from './testStore.js';

const [realStoreDir, bbdir, buildDirParent, script, kind, ...inputs] = process.argv.slice(2);
if (!realStoreDir || !bbdir || !buildDirParent || script === undefined) throw new Error('usage: runBuildChild realStoreDir bbdir buildDirParent script');
const out = `${STORE_DIR}/${randomHashPart()}-child-build`;
const result = await runSandboxedBuild({
  storeDir: STORE_DIR,
  realStoreDir,
  inputPaths: [bbdir, ...inputs],
  drv: { name: 'child-build', builder: `${bbdir}/sh`, args: ['-c', script], env: { out, PATH: bbdir }, outputs: { out }, isFixedOutput: kind === 'fixed-output' },
  settings: { ...DEFAULT_SANDBOX_SETTINGS },
  onLogLine: (line) => process.stdout.write(`${line}\n`),
  onWarning: (message) => process.stdout.write(`warning: ${message}\n`),
  buildDirParent,
  // RUN_BUILD_DEFAULT_POOL=1: leave the pool to the driver's default, as the scheduler will.
  userPoolDir: process.env['RUN_BUILD_DEFAULT_POOL'] === '1' ? undefined : `${buildDirParent}/userpool`,
});
process.stdout.write(`status=${JSON.stringify(result.status)}\n`);
