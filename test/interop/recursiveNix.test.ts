/**
 * Recursive builds (recursive-nix): a builder that runs real `nix-store --add` and
 * `nix-build` (Nix 2.8's own, bound into the sandbox with extra-sandbox-paths) against the
 * store its build gets. What it adds and builds appears in its sandbox at once and may be
 * referred to by its output; a valid path outside its closure stays invisible through the
 * socket and in the sandbox. Once through tsnix-daemon for root, once as a non-root user
 * with tsnix-store -r on a home store.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir, TSNIX_STORE, tsnixStoreOk } from '../support/cli.js';
import { startDaemon, type RunningDaemon } from '../support/daemonClient.js';
import { requireNix, runNix } from '../support/nix.js';

const NOBODY = 65534;
/** Nix's programs and the libraries they load, for the builder. */
const NIX_IN_SANDBOX = '/usr /lib /lib64';
const OPTIONS = ['--option', 'experimental-features', 'recursive-nix', '--option', 'extra-sandbox-paths', NIX_IN_SANDBOX, '--option', 'substituters', ''];

const lines = (text: string): string[] => text.split('\n').filter((l) => l !== '');

/** The outer derivation: adds a file, builds a derivation inside, refers to both; probes the secret. */
function outerExpression(busybox: string, secret: string): string {
  return `let bb = builtins.storePath "${busybox}"; in derivation {
  # A long name: the build directory's socket paths are longer than a socket address holds.
  name = "recursive-${'x'.repeat(90)}"; system = "x86_64-linux"; builder = "\${bb}/bin/busybox";
  requiredSystemFeatures = [ "recursive-nix" ];
  PATH = "/usr/bin:\${bb}/bin";
  args = [ "sh" "-c" ''
    set -e
    echo "remote=$NIX_REMOTE"
    if nix-store -q --hash ${secret} 2>/build/err; then echo SECRET-QUERIED; fi
    echo "query-error=$(cat /build/err)"
    if nix-store --export ${secret} > /dev/null 2>/build/err; then echo SECRET-DUMPED; fi
    echo "export-error=$(cat /build/err)"
    if cat ${secret} 2>/dev/null; then echo SECRET-READ; fi
    echo made inside > /build/file
    added=$(nix-store --add /build/file)
    echo "added-content=$(cat $added)"
    echo 'let b = builtins.storePath "\${bb}"; in derivation { name = "built-inside"; system = "x86_64-linux"; builder = "''\${b}/bin/busybox"; args = [ "sh" "-c" "echo inner > $out" ]; }' > /build/inner.nix
    inner=$(nix-build --no-out-link /build/inner.nix)
    echo "inner-content=$(cat $inner)"
    echo "$added $inner" > $out
  '' ];
}
`;
}

describe('interop: recursive builds (recursive-nix) with real nix-store and nix-build inside', function () {
  this.timeout(120000);
  let nixStore: string;
  let root: string;
  let busybox: string;
  let secret: string;
  let drvPath: string;
  let daemon: RunningDaemon | undefined;

  before(function () {
    nixStore = requireNix(this);
    requireNix(this, 'nix-build');
    if (process.getuid?.() !== 0) this.skip();
  });
  beforeEach(async () => {
    const dir = tempDir('tsnix-recursive-');
    chmodSync(dir, 0o755);
    root = join(dir, 'store');
    const src = join(dir, 'src', 'bb');
    mkdirSync(join(src, 'bin'), { recursive: true });
    copyFileSync('/bin/busybox', join(src, 'bin', 'busybox'));
    busybox = (await tsnixStoreOk(['--store', root, '--add', src])).trim();
    writeFileSync(join(dir, 'src', 'secret'), 'the secret\n');
    secret = (await tsnixStoreOk(['--store', root, '--add', join(dir, 'src', 'secret')])).trim();
    writeFileSync(join(dir, 'outer.nix'), outerExpression(busybox, secret));
    const inst = spawnSync('unshare', ['-m', 'sh', '-c', `mount --bind ${root}/nix /nix && nix-instantiate ${join(dir, 'outer.nix')}`], { encoding: 'utf8', env: { ...process.env, NIX_REMOTE: '' } });
    assert.equal(inst.status, 0, inst.stderr);
    drvPath = lines(inst.stdout).pop()!;
  });
  afterEach(async () => {
    await daemon?.stop();
    daemon = undefined;
  });

  /** What every run must show: the builder's view, and an output referring to what it made inside. */
  function checkResult(log: string, out: string): void {
    assert.match(log, /remote=unix:\/\/\/build\/\.nix-socket/);
    assert.doesNotMatch(log, /SECRET-(QUERIED|DUMPED|READ)/);
    assert.match(log, new RegExp(`query-error=.*path '${secret}' is not valid`));
    assert.match(log, new RegExp(`export-error=.*path '${secret}' is not valid`));
    assert.match(log, /added-content=made inside/);
    assert.match(log, /inner-content=inner/);
    const [added, inner] = readFileSync(join(root, out), 'utf8').trim().split(' ');
    assert.match(added!, /-file$/);
    assert.match(inner!, /-built-inside$/);
    // Nix itself finds both as references of the output, and the closure complete.
    const refs = runNix(nixStore, ['--store', root, '-q', '--references', out]);
    assert.equal(refs.status, 0, refs.stderr);
    assert.deepEqual(lines(refs.stdout).sort(), [added, inner].sort());
    assert.equal(runNix(nixStore, ['--store', root, '--verify', '--check-contents']).status, 0);
  }

  it('as root, through tsnix-daemon for a real nix-store -r client', async () => {
    daemon = await startDaemon(root, OPTIONS);
    const r = spawnSync('unshare', ['-m', 'sh', '-c', `mount --bind ${root}/nix /nix && nix-store -r ${drvPath}`], {
      encoding: 'utf8',
      env: { ...process.env, NIX_REMOTE: `unix://${daemon.socket}`, NIX_CONF_DIR: '/nonexistent' },
    });
    assert.equal(r.status, 0, r.stderr);
    checkResult(r.stderr, lines(r.stdout).pop()!);
  });

  it('as a non-root user, with tsnix-store -r on a store of its own (user namespace)', () => {
    spawnSync('chown', ['-R', `${NOBODY}:${NOBODY}`, root]);
    const r = spawnSync('setpriv', [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', TSNIX_STORE, '--store', root, '-r', drvPath, ...OPTIONS], {
      encoding: 'utf8',
      env: { ...process.env, HOME: '/nonexistent', TSNIX_CONF_DIR: '/nonexistent' },
    });
    assert.equal(r.status, 0, r.stderr);
    checkResult(r.stderr, lines(r.stdout).pop()!);
  });

  it('without the experimental feature the derivation is refused with nix\'s message', async () => {
    const r = spawnSync(TSNIX_STORE, ['--store', root, '-r', drvPath, '--option', 'substituters', ''], { encoding: 'utf8', env: { ...process.env, TSNIX_CONF_DIR: '/nonexistent' } });
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, new RegExp(`a 'x86_64-linux' with features \\{recursive-nix\\} is required to build '${drvPath.replace(/\./g, '\\.')}', but I am a 'x86_64-linux' with features \\{[^}]*\\}`));
  });
});
