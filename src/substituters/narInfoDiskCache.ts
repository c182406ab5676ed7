/**
 * What binary caches answered, kept on disk between commands (as Nix keeps
 * `~/.cache/nix/binary-cache-v6.sqlite`): a cache's `nix-cache-info`, and per path its narinfo
 * or the fact that the cache does not have it. Found narinfos are believed for
 * `narinfo-cache-positive-ttl` seconds, absences for `narinfo-cache-negative-ttl`; so asking
 * again soon costs no request at all. Our own file: its schema is not Nix's.
 */
import { mkdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import Database from 'better-sqlite3';

export interface DiskCacheTtl {
  positive: number;
  negative: number;
}

/** How long a cache's own metadata is believed (Nix re-reads it after a week as well). */
const CACHE_INFO_TTL = 7 * 24 * 3600;

export interface CachedCacheInfo {
  storeDir: string | undefined;
  priority: number | undefined;
  wantMassQuery: boolean;
}

/** `$XDG_CACHE_HOME/tsnix/binary-cache-v1.sqlite`, else under ~/.cache. */
export function defaultDiskCachePath(env: NodeJS.ProcessEnv = process.env): string {
  const base = env['XDG_CACHE_HOME'] || join(env['HOME'] || homedir(), '.cache');
  return join(base, 'tsnix', 'binary-cache-v1.sqlite');
}

export class NarInfoDiskCache {
  private readonly getInfo: Database.Statement;
  private readonly putInfo: Database.Statement;
  private readonly getNar: Database.Statement;
  private readonly putNar: Database.Statement;
  /** Writes not yet made: a level of a closure is written in one transaction, not one each. */
  private pending: (() => void)[] = [];
  private readonly flushAll: (writes: (() => void)[]) => void;

  private constructor(
    private readonly db: Database.Database,
    private readonly ttl: DiskCacheTtl,
    private readonly now: () => number,
  ) {
    db.exec(`
      CREATE TABLE IF NOT EXISTS Caches (url TEXT PRIMARY KEY, storeDir TEXT, priority INTEGER, wantMassQuery INTEGER NOT NULL, timestamp INTEGER NOT NULL);
      CREATE TABLE IF NOT EXISTS NarInfos (url TEXT NOT NULL, hashPart TEXT NOT NULL, narinfo TEXT, timestamp INTEGER NOT NULL, PRIMARY KEY (url, hashPart));
    `);
    this.getInfo = db.prepare('SELECT storeDir, priority, wantMassQuery, timestamp FROM Caches WHERE url = ?');
    this.putInfo = db.prepare('INSERT OR REPLACE INTO Caches (url, storeDir, priority, wantMassQuery, timestamp) VALUES (?, ?, ?, ?, ?)');
    this.getNar = db.prepare('SELECT narinfo, timestamp FROM NarInfos WHERE url = ? AND hashPart = ?');
    this.putNar = db.prepare('INSERT OR REPLACE INTO NarInfos (url, hashPart, narinfo, timestamp) VALUES (?, ?, ?, ?)');
    this.flushAll = db.transaction((writes: (() => void)[]) => {
      for (const write of writes) write();
    });
  }

  /**
   * Opens (creating) the file; undefined when it cannot be used (a read-only home, say): the
   * caches are then asked every time, which is slower but correct.
   */
  static open(path: string, ttl: DiskCacheTtl, now: () => number = () => Math.floor(Date.now() / 1000)): NarInfoDiskCache | undefined {
    try {
      mkdirSync(dirname(path), { recursive: true });
      const db = new Database(path);
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = NORMAL');
      // Several commands may fill it at once.
      db.pragma('busy_timeout = 5000');
      return new NarInfoDiskCache(db, ttl, now);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'EACCES' || code === 'EROFS' || code === 'EPERM' || code === 'SQLITE_CANTOPEN' || code === 'SQLITE_READONLY') return undefined;
      throw error;
    }
  }

  cacheInfo(url: string): CachedCacheInfo | undefined {
    const row = this.getInfo.get(url) as { storeDir: string | null; priority: number | null; wantMassQuery: number; timestamp: number } | undefined;
    if (!row || this.now() - row.timestamp > CACHE_INFO_TTL) return undefined;
    return { storeDir: row.storeDir ?? undefined, priority: row.priority ?? undefined, wantMassQuery: row.wantMassQuery !== 0 };
  }

  rememberCacheInfo(url: string, info: CachedCacheInfo): void {
    const now = this.now();
    this.write(() => this.putInfo.run(url, info.storeDir ?? null, info.priority ?? null, info.wantMassQuery ? 1 : 0, now));
  }

  /** The narinfo text, null for a remembered absence, undefined when nothing (fresh) is known. */
  narInfo(url: string, hashPart: string): string | null | undefined {
    const row = this.getNar.get(url, hashPart) as { narinfo: string | null; timestamp: number } | undefined;
    if (!row) return undefined;
    const age = this.now() - row.timestamp;
    return age > (row.narinfo === null ? this.ttl.negative : this.ttl.positive) ? undefined : row.narinfo;
  }

  rememberNarInfo(url: string, hashPart: string, narinfo: string | null): void {
    const now = this.now();
    this.write(() => this.putNar.run(url, hashPart, narinfo, now));
  }

  /**
   * Queued, and written together in one transaction a little after the last one: the
   * answers of a closure's level come in a burst, and are then written while the next level
   * is waited for, not between an answer and the requests it leads to (one commit instead of
   * hundreds: ~60 us a narinfo alone). Whatever is left is written when the caches close.
   */
  private write(run: () => void): void {
    this.pending.push(run);
    if (this.pending.length >= 4096) {
      this.flush();
      return;
    }
    if (this.timer) this.timer.refresh();
    else this.timer = setTimeout(() => this.flush(), 20).unref();
  }
  private timer: NodeJS.Timeout | undefined;

  /** A write that fails (a full disk, a lock held too long) only loses the memo. */
  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const writes = this.pending;
    if (writes.length === 0 || !this.db.open) return;
    this.pending = [];
    try {
      this.flushAll(writes);
    } catch (error) {
      if (!(error instanceof Database.SqliteError)) throw error;
    }
  }

  close(): void {
    this.flush();
    this.db.close();
  }
}
