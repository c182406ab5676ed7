/**
 * Attacks on a recursive build's store (recursive-nix), by a builder holding real nix tools:
 * a store path that is a symlink to a hidden path or a host file (the mounter must not follow
 * it on the host), a derivation whose inputs are not among its references (it would build
 * with a hidden input), a FIFO planted where the next path will be mounted (it must not hang
 * the mounter). None may show the builder anything it may not see, or hang the build.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir, TSNIX_STORE, tsnixStoreOk } from '../support/cli.js';
import { requireNix } from '../support/nix.js';

const OPTIONS = ['--option', 'experimental-features', 'recursive-nix', '--option', 'extra-sandbox-paths', '/usr /lib /lib64', '--option', 'substituters', ''];
const lines = (text: string): string[] => text.split('\n').filter((l) => l !== '');

function attacker(busybox: string, secret: string): string {
  return `let bb = builtins.storePath "${busybox}"; in derivation {
  name = "attacker"; system = "x86_64-linux"; builder = "\${bb}/bin/busybox";
  requiredSystemFeatures = [ "recursive-nix" ];
  PATH = "/usr/bin:\${bb}/bin";
  args = [ "sh" "-c" ''
    cd /build
    ln -s ${secret} l1
    p1=$(nix-store --add l1)
    echo "link-target=$(readlink $p1)"
    if cat $p1 2>/dev/null; then echo LEAKED-THROUGH-LINK; fi
    ln -s /etc/shadow l2
    p2=$(nix-store --add l2)
    if cat $p2 2>/dev/null; then echo LEAKED-HOST-FILE; fi
    printf 'Derive([("out","/nix/store/00000000000000000000000000000000-evil","","")],[],["${secret}"],"x86_64-linux","/bin/sh",[],[])' > evil.drv
    nix-instantiate --read-write-mode --eval -E 'builtins.toFile "evil.drv" (builtins.readFile /build/evil.drv)' 2>err || true
    echo "evil-drv=$(cat err)"
    echo fifo > f3
    target=$(nix-store --print-fixed-path --recursive sha256 $(nix-hash --type sha256 --base32 f3) f3)
    mkfifo $target
    timeout 60 nix-store --add f3 2>err; echo "fifo-add=$? $(cat err)"
    echo done > $out
  '' ];
}
`;
}

describe('security: a recursive build attacks its store', function () {
  this.timeout(120000);
  before(function () {
    requireNix(this);
    requireNix(this, 'nix-instantiate');
    if (process.getuid?.() !== 0) this.skip();
  });

  it('symlinks, a derivation with hidden inputs and a planted FIFO show it nothing and hang nothing', async () => {
    const dir = tempDir('tsnix-recursive-attack-');
    chmodSync(dir, 0o755);
    const root = join(dir, 'store');
    const src = join(dir, 'src', 'bb');
    mkdirSync(join(src, 'bin'), { recursive: true });
    copyFileSync('/bin/busybox', join(src, 'bin', 'busybox'));
    const busybox = (await tsnixStoreOk(['--store', root, '--add', src])).trim();
    writeFileSync(join(dir, 'src', 'secret'), 'the secret\n');
    const secret = (await tsnixStoreOk(['--store', root, '--add', join(dir, 'src', 'secret')])).trim();
    writeFileSync(join(dir, 'attacker.nix'), attacker(busybox, secret));
    const inst = spawnSync('unshare', ['-m', 'sh', '-c', `mount --bind ${root}/nix /nix && nix-instantiate ${join(dir, 'attacker.nix')}`], { encoding: 'utf8', env: { ...process.env, NIX_REMOTE: '' } });
    assert.equal(inst.status, 0, inst.stderr);
    const drvPath = lines(inst.stdout).pop()!;
    const r = spawnSync(TSNIX_STORE, ['--store', root, '-r', drvPath, ...OPTIONS], { encoding: 'utf8', env: { ...process.env, TSNIX_CONF_DIR: '/nonexistent' }, timeout: 100000 });
    assert.equal(r.status, 0, r.stderr);
    const log = r.stderr;
    // The symlink is recreated as it is, not followed on the host.
    assert.match(log, new RegExp(`link-target=${secret}`));
    assert.doesNotMatch(log, /LEAKED|the secret/);
    assert.match(log, new RegExp(`evil-drv=.*its input '${secret}' is not among its references`));
    assert.match(log, /fifo-add=1 .*File exists/);
  });
});
