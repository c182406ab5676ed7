/**
 * The store database handle: opens or creates `db/db.sqlite` with Nix's schema and connection
 * settings, holds the shared big lock for its life, and caches prepared statements.
 */
import { existsSync } from 'node:fs';
import { readFile, rename, writeFile } from 'node:fs/promises';
import Database from 'better-sqlite3';
import { StoreSchemaError } from './dbErrors.js';
import { ensureStoreDirs, type StoreLayout } from './layout.js';
import { acquireBigLock, type BigLock } from './locks/bigLock.js';
import { SCHEMA_SQL, SCHEMA_VERSION } from './schema.js';

export interface OpenDatabaseOptions {
  /** Create the store and database when missing (default true). */
  create?: boolean;
  /** Nix's `fsync-metadata`; false means `synchronous = off` (default true). */
  fsyncMetadata?: boolean;
  /** Nix's `use-sqlite-wal` (default true). */
  useWal?: boolean;
  /** Group id of `build-users-group`: as root, the store directory is made root:<gid> 1775. */
  buildGroupId?: number;
  /** Told when another process holds the big lock exclusively (a schema upgrade). */
  onWait?: (message: string) => void;
}

/** Nix waits this long for a busy database before failing. */
const BUSY_TIMEOUT_MS = 60 * 60 * 1000;

export class StoreDatabase {
  private readonly statements = new Map<string, Database.Statement>();
  private readonly columnStatements = new Map<string, Database.Statement>();
  private closed = false;

  constructor(
    readonly layout: StoreLayout,
    readonly sqlite: Database.Database,
    private readonly bigLock: BigLock,
  ) {}

  get storeDir(): string {
    return this.layout.storeDir;
  }

  /** A prepared statement for `sql`, compiled once per handle. */
  statement(sql: string): Database.Statement {
    let stmt = this.statements.get(sql);
    if (stmt === undefined) {
      stmt = this.sqlite.prepare(sql);
      this.statements.set(sql, stmt);
    }
    return stmt;
  }

  /** A prepared statement for `sql` that returns only the first column of each row. */
  columnStatement(sql: string): Database.Statement {
    let stmt = this.columnStatements.get(sql);
    if (stmt === undefined) {
      stmt = this.sqlite.prepare(sql).pluck();
      this.columnStatements.set(sql, stmt);
    }
    return stmt;
  }

  /**
   * Runs `fn` in one transaction. It begins IMMEDIATE so the write lock is taken (waiting out
   * the busy timeout) before anything is read; a deferred transaction that reads first could
   * fail with SQLITE_BUSY when it later tries to write. Nested calls become savepoints.
   */
  transaction<T>(fn: () => T): T {
    return this.sqlite.transaction(fn).immediate();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.statements.clear();
    this.columnStatements.clear();
    this.sqlite.close();
    this.bigLock.release();
  }
}

async function readSchemaVersion(layout: StoreLayout): Promise<number> {
  let text: string;
  try {
    text = await readFile(layout.schemaPath, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw e;
  }
  if (!/^-?\d+$/.test(text)) throw new StoreSchemaError(`'${layout.schemaPath}' is corrupt`);
  return Number(text);
}

function checkSchemaVersion(layout: StoreLayout, version: number): void {
  if (version > SCHEMA_VERSION) {
    throw new StoreSchemaError(
      `current Nix store schema is version ${version}, but I only support ${SCHEMA_VERSION} (in '${layout.schemaPath}')`,
    );
  }
  if (version < SCHEMA_VERSION) {
    throw new StoreSchemaError(
      `current Nix store schema is version ${version} (in '${layout.schemaPath}'), but tsnix only supports ${SCHEMA_VERSION}; run Nix 2.8 on this store once to upgrade it`,
    );
  }
}

async function writeSchemaVersion(layout: StoreLayout): Promise<void> {
  const temp = `${layout.schemaPath}.tmp-${process.pid}`;
  await writeFile(temp, String(SCHEMA_VERSION), { mode: 0o666 });
  await rename(temp, layout.schemaPath);
}

function connect(layout: StoreLayout, create: boolean, options: OpenDatabaseOptions): Database.Database {
  const sqlite = new Database(layout.dbPath, { fileMustExist: !create, timeout: BUSY_TIMEOUT_MS });
  try {
    sqlite.pragma('foreign_keys = 1');
    sqlite.pragma(`synchronous = ${options.fsyncMetadata === false ? 'off' : 'normal'}`);
    const mode = options.useWal === false ? 'truncate' : 'wal';
    // Switching the journal mode needs exclusive access; skip it when it is already right.
    if (sqlite.pragma('main.journal_mode', { simple: true }) !== mode) sqlite.pragma(`main.journal_mode = ${mode}`);
    if (mode === 'wal') sqlite.pragma('wal_autocheckpoint = 40000');
    if (create) sqlite.exec(SCHEMA_SQL);
  } catch (e) {
    sqlite.close();
    throw e;
  }
  return sqlite;
}

/** Opens the store's database the way Nix's LocalStore does, creating a fresh store if allowed. */
export async function openStoreDatabase(layout: StoreLayout, options: OpenDatabaseOptions = {}): Promise<StoreDatabase> {
  const create = options.create ?? true;
  if (create) await ensureStoreDirs(layout, options.buildGroupId);
  else if (!existsSync(layout.dbPath)) throw new StoreSchemaError(`no Nix store database at '${layout.dbPath}'`);
  const bigLock = await acquireBigLock(layout, 'shared', options.onWait);
  try {
    const version = await readSchemaVersion(layout);
    if (version === 0) {
      if (!create) throw new StoreSchemaError(`no Nix store database in '${layout.dbDir}'`);
      const sqlite = connect(layout, true, options);
      await writeSchemaVersion(layout);
      return new StoreDatabase(layout, sqlite, bigLock);
    }
    checkSchemaVersion(layout, version);
    return new StoreDatabase(layout, connect(layout, false, options), bigLock);
  } catch (e) {
    bigLock.release();
    throw e;
  }
}
