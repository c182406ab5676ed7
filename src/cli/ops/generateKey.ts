/**
 * `--generate-binary-cache-key NAME SECRET-FILE PUBLIC-FILE`: an Ed25519 key pair in Nix's
 * format (`NAME:base64`), for signing caches (`secret-key-files`) and trusting them
 * (`trusted-public-keys`). The secret file is created 0600 and never replaces a file.
 */
import { closeSync, constants, openSync, writeSync } from 'node:fs';
import { generateKeyPair } from '../../format/signing.js';
import { UsageError } from '../args.js';

function writeNew(path: string, content: string, mode: number): void {
  let fd: number;
  try {
    fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, mode);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') throw new UsageError(`'${path}' exists already; not replacing it with a new key`);
    throw error;
  }
  try {
    writeSync(fd, content);
  } finally {
    closeSync(fd);
  }
}

export function opGenerateBinaryCacheKey(args: string[]): void {
  const [name, secretFile, publicFile] = args as [string, string, string];
  if (name === '' || name.includes(':')) throw new UsageError(`invalid key name '${name}': it must not be empty nor contain ':'`);
  const pair = generateKeyPair(name);
  writeNew(secretFile, pair.secret, 0o600);
  writeNew(publicFile, pair.public, 0o644);
}
