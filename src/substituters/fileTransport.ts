/** `file:///some/dir`: a binary cache in a local directory, as `nix copy --to file://…` writes it. */
import { createReadStream } from 'node:fs';
import { mkdir, open, readFile, rename, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { CacheAccessError } from './errors.js';
import type { CacheTransport } from './transport.js';

function isMissing(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

export class FileTransport implements CacheTransport {
  constructor(
    readonly uri: string,
    private readonly dir: string,
  ) {}

  /** Names come from narinfos (`URL:`): never let one climb out of the cache directory. */
  private locate(name: string): string {
    if (name.startsWith('/') || name.split('/').some((part) => part === '..' || part === '')) {
      throw new CacheAccessError(`binary cache '${this.uri}': refusing the file name '${name}'`);
    }
    return join(this.dir, name);
  }

  async getFile(name: string): Promise<Buffer | undefined> {
    try {
      return await readFile(this.locate(name));
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw new CacheAccessError(`binary cache '${this.uri}': cannot read '${name}': ${(error as Error).message}`);
    }
  }

  async *streamFile(name: string, signal?: AbortSignal): AsyncIterable<Buffer> {
    const path = this.locate(name);
    try {
      for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20, ...(signal ? { signal } : {}) })) yield chunk as Buffer;
    } catch (error) {
      if (isMissing(error)) throw new CacheAccessError(`binary cache '${this.uri}' has no file '${name}'`);
      throw error;
    }
  }

  async hasFile(name: string): Promise<boolean> {
    try {
      await stat(this.locate(name));
      return true;
    } catch (error) {
      if (isMissing(error)) return false;
      throw error;
    }
  }

  async putFile(name: string, content: AsyncIterable<Buffer> | Buffer): Promise<void> {
    const path = this.locate(name);
    await mkdir(dirname(path), { recursive: true });
    const temporary = `${path}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
    const file = await open(temporary, 'wx', 0o644);
    try {
      if (Buffer.isBuffer(content)) await file.write(content);
      else for await (const chunk of content) await file.write(chunk);
      await file.close();
      await rename(temporary, path);
    } catch (error) {
      await file.close().catch(() => undefined);
      await rm(temporary, { force: true });
      throw error;
    }
  }

  async close(): Promise<void> {}
}
