/**
 * `--add` and `--dump` of tsnix and real nix side by side, on one 1 GiB file and on
 * 100,000 files of 4 KiB in nested folders (10 x 100 directories), reported as ratios.
 * Also the hashing limit of this machine (`openssl speed sha256`) and Node's sha256.
 *
 *   node dist/bench/store.js [--reps N] [--data DIR] [--only big|small] [--stores DIR]
 *
 * The stores that `--add` fills live on tmpfs (/dev/shm) by default: on the build VMs a
 * disk's writeback makes one `--add` of 100,000 files take anywhere from 5 to 35 s for
 * either tool, which says nothing about them. `--stores /tmp` measures with the disk.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { flag, median, printRows, type Row, sh, sideBySide, tsnixStore } from './lib.js';

const reps = Number(flag('--reps') ?? 3);
const dataDir = flag('--data') ?? '/tmp/tsnix-bench-data';
const only = flag('--only');
const storesDir = flag('--stores') ?? '/dev/shm';

function makeData(): void {
  mkdirSync(dataDir, { recursive: true });
  const big = join(dataDir, 'big');
  if (!existsSync(big)) {
    console.log('making a 1 GiB file of random bytes...');
    sh(`head -c 1073741824 /dev/urandom > ${big}.tmp && mv ${big}.tmp ${big}`);
  }
  const small = join(dataDir, 'small');
  if (!existsSync(small)) {
    console.log('making 100,000 files of 4 KiB in 10 x 100 directories...');
    const block = Buffer.alloc(4096);
    for (let a = 0; a < 10; a++) {
      for (let b = 0; b < 100; b++) {
        const dir = join(`${small}.tmp`, `d${a}`, `e${b}`);
        mkdirSync(dir, { recursive: true });
        for (let c = 0; c < 100; c++) {
          block.write(`${a}/${b}/${c} `, 0);
          writeFileSync(join(dir, `f${c}`), block, { mode: c % 10 === 0 ? 0o755 : 0o644 });
        }
      }
    }
    sh(`mv ${small}.tmp ${small}`);
  }
}

function hashingLimit(): void {
  const r = spawnSync('openssl', ['speed', '-seconds', '2', '-bytes', '1048576', 'sha256'], { encoding: 'utf8' });
  const line = r.stdout.split('\n').find((l) => l.startsWith('sha256'));
  const buf = Buffer.alloc(64 << 20, 7);
  const start = process.hrtime.bigint();
  for (let i = 0; i < 8; i++) createHash('sha256').update(buf).digest();
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  console.log(`openssl speed sha256 (1 MiB blocks): ${line?.trim() ?? 'openssl not found'}`);
  console.log(`node sha256 of 512 MiB in memory: ${((512 / seconds) * 1.048576).toFixed(0)} MB/s`);
}

makeData();
hashingLimit();
sh('sync');
const rows: Row[] = [];
const storeOf = (who: string): string => join(storesDir, `tsnix-bench-store-${who}`);
const freshStore = (who: string): string => `rm -rf ${storeOf(who)} && sync`;
for (const tree of only ? [only] : ['big', 'small']) {
  const path = join(dataDir, tree);
  rows.push(sideBySide(`--dump ${tree} > /dev/null`, reps, `nix-store --dump ${path} > /dev/null`, `${tsnixStore} --dump ${path} > /dev/null`));
  rows.push(
    sideBySide(
      `--add ${tree} (fresh store)`,
      reps,
      `nix-store --store ${storeOf('nix')} --add ${path}`,
      `${tsnixStore} --store ${storeOf('tsnix')} --add ${path}`,
      (who) => freshStore(who),
    ),
  );
}
printRows(rows);
sh(`rm -rf ${storeOf('nix')} ${storeOf('tsnix')}`);
const worst = Math.max(...rows.map((r) => median(r.tsnix) / median(r.nix)));
console.log(`worst ratio tsnix/nix: ${worst.toFixed(2)}x`);
