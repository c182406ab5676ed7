/** Shared helpers for the database tests: temporary stores and made-up path infos. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Hash, hashBytes } from '../../../src/format/hash.js';
import { makeStorePath } from '../../../src/format/storePath.js';
import { openStoreDatabase, type StoreDatabase } from '../../../src/store/database.js';
import { StoreLayout } from '../../../src/store/layout.js';
import { makePathInfo, type ValidPathInfo } from '../../../src/store/pathInfo.js';

export interface TempStore {
  root: string;
  layout: StoreLayout;
  db: StoreDatabase;
  dispose(): void;
}

export function tempRoot(): string {
  return mkdtempSync(join(tmpdir(), 'tsnix-db-'));
}

export async function tempStore(root = tempRoot()): Promise<TempStore> {
  const layout = new StoreLayout({ root });
  const db = await openStoreDatabase(layout);
  return {
    root,
    layout,
    db,
    dispose(): void {
      db.close();
      rmSync(root, { recursive: true, force: true });
    },
  };
}

/** An input-addressed-looking path whose hash part is derived from `name`. */
export function outputPath(name: string): string {
  return makeStorePath('output:out', hashBytes('sha256', name), name);
}

export function builtInfo(path: string, references: string[] = [], extra: Partial<ValidPathInfo> = {}): ValidPathInfo {
  return makePathInfo({
    path,
    narHash: hashBytes('sha256', `nar of ${path}`),
    narSize: 120,
    references: [...references].sort(),
    ...extra,
  });
}

/** Real rows from the vector store (test/fixtures/db/sample-rows.txt). */
export const vector = {
  /** The busybox directory simple.drv uses; its real NAR hash does not matter here. */
  bbdir: builtInfo('/nix/store/mxzxqjhhdimzlhlil55ba8gp6zrgcbhz-bbdir'),
  regular: makePathInfo({
    path: '/nix/store/fmnmafj8xp9i19slpacsjrdqkb1zy7w8-01-regular.txt',
    narHash: Hash.parse('sha256:82acb7081ceb4f8df60a5b66d6c4f1bd182173fbf0453f9900c053b359d2d2c2'),
    narSize: 128,
    ca: 'fixed:r:sha256:1hnjs9cv6ly002ckyighzdrj265xy72dcrjv1bv8skzb3h4bgb42',
  }),
  aTxt: makePathInfo({
    path: '/nix/store/8awlk6rgzynhczrf7mwqjfk93zbcldl6-a.txt',
    narHash: Hash.parse('sha256:d65a6bbb8c75baec8968644594023e58903c4f7ab7bddeea394b84d818bec8e8'),
    narSize: 120,
    ca: 'text:sha256:181hzh2f17bgxv0p90gqygyrl3jgiz96dw2mhlbfwimw0aw63y86',
  }),
  bTxt: makePathInfo({
    path: '/nix/store/wm1yl0adpghzq2zqm62z1i3v1c3hslgv-b.txt',
    narHash: Hash.parse('sha256:d7b9fe1964936e4add73762310c9b75031ef052e7549c214a0b556affa57b307'),
    narSize: 176,
    references: ['/nix/store/8awlk6rgzynhczrf7mwqjfk93zbcldl6-a.txt'],
    ca: 'text:sha256:1f801l9lrsgknv7dgmnhran6x1znabh0lzhza3b0jg68mv4imh78',
  }),
  simpleDrv: makePathInfo({
    path: '/nix/store/3ka20g6nw09f7rs8lzqydz5yfj5vdx8n-simple.drv',
    narHash: Hash.parse('sha256:ddef82125cbb861dfa371241d0ca1c722d86379f6d343cb03325292c03a836d9'),
    narSize: 520,
    references: ['/nix/store/mxzxqjhhdimzlhlil55ba8gp6zrgcbhz-bbdir'],
    ca: 'text:sha256:0z8z4hb8ssrimfhq5d8ykiipi1281rzclg81jwwi2sqkb5jw35z0',
  }),
  simple: makePathInfo({
    path: '/nix/store/dzlyqx2ian7g7d3q7c82f62y9gabffbn-simple',
    narHash: Hash.parse('sha256:1c37d01af40be2e80691de3cc3df44377a699afbb17c68f080964b2fd071fc13'),
    narSize: 120,
    deriver: '/nix/store/3ka20g6nw09f7rs8lzqydz5yfj5vdx8n-simple.drv',
    ultimate: true,
    registrationTime: 1795371942,
  }),
};
