/**
 * The substituters a command uses, from the settings Nix has for them: `substituters` (URLs,
 * tried by priority), `trusted-public-keys` and `require-sigs`. Nothing is contacted here;
 * a cache is first read when a path is asked for.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { parsePublicKey, type PublicKey } from '../format/signing.js';
import type { Settings } from '../store/settings.js';
import { BinaryCache } from './binaryCache.js';
import { CacheAccessError } from './errors.js';
import { FileTransport } from './fileTransport.js';
import { HttpTransport } from './httpTransport.js';
import { defaultDiskCachePath, NarInfoDiskCache } from './narInfoDiskCache.js';
import type { CacheTransport } from './transport.js';

/** Store URL parameters (`?priority=10&trusted=1`) and the URL without them. */
function splitParams(uri: string): { base: string; params: URLSearchParams } {
  const at = uri.indexOf('?');
  return at < 0 ? { base: uri, params: new URLSearchParams() } : { base: uri.slice(0, at), params: new URLSearchParams(uri.slice(at + 1)) };
}

export function openTransport(uri: string, settings: Settings): { transport: CacheTransport; params: URLSearchParams } {
  const { base, params } = splitParams(uri);
  if (base.startsWith('file://')) {
    const dir = decodeURIComponent(base.slice('file://'.length));
    if (!dir.startsWith('/')) throw new CacheAccessError(`binary cache '${uri}': a file:// URL needs an absolute path`);
    return { transport: new FileTransport(uri, dir.replace(/\/+$/, '') || '/'), params };
  }
  if (base.startsWith('http://') || base.startsWith('https://')) {
    // Read when the cache is first connected to, as curl reads Nix's: a missing file fails
    // only a command that has something to fetch.
    const transport = new HttpTransport(uri, base.replace(/\/+$/, ''), {
      connections: settings.int('http-connections'),
      connectTimeout: settings.int('connect-timeout'),
      attempts: settings.int('download-attempts'),
      ...(base.startsWith('https://') ? { ca: () => certificates(settings) } : {}),
    });
    return { transport, params };
  }
  throw new CacheAccessError(`don't know how to open Nix store '${uri}'`);
}

/**
 * The certificates trusted for https:// caches: `ssl-cert-file` (else $NIX_SSL_CERT_FILE, else
 * $SSL_CERT_FILE) alone, as Nix; else Node's own, with those of NODE_EXTRA_CA_CERTS that
 * bin/tsnix-store kept from Node's start (undefined: Node's defaults as they are).
 */
function certificates(settings: Settings): Buffer | Buffer[] | undefined {
  const file = settings.get('ssl-cert-file') || process.env['NIX_SSL_CERT_FILE'] || process.env['SSL_CERT_FILE'];
  if (file) return readCertificates(file);
  const extra = process.env['TSNIX_EXTRA_CA_CERTS'];
  if (!extra) return undefined;
  // As Node itself: an extra file that cannot be read adds nothing (Node warns and goes on).
  let added: Buffer;
  try {
    added = readFileSync(extra);
  } catch {
    return undefined;
  }
  return [...nodeTls().rootCertificates.map((pem) => Buffer.from(pem)), added];
}

/** node:tls costs ~5 ms to load; a command with http:// caches only does not need it. */
const nodeTls = (): typeof import('node:tls') => createRequire(import.meta.url)('node:tls') as typeof import('node:tls');

function readCertificates(file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (error) {
    throw new CacheAccessError(`cannot read 'ssl-cert-file' '${file}': ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
}

export function trustedKeys(settings: Settings): PublicKey[] {
  return settings
    .get('trusted-public-keys')
    .split(/\s+/)
    .filter((k) => k !== '')
    .map((k) => parsePublicKey(k, "setting 'trusted-public-keys'"));
}

export function openSubstituters(settings: Settings, storeDir: string): BinaryCache[] {
  // `substitute = false`: as if no substituter were configured.
  if (!settings.bool('substitute')) return [];
  const keys = trustedKeys(settings);
  const requireSigs = settings.bool('require-sigs');
  const uris = settings
    .get('substituters')
    .split(/\s+/)
    .filter((u) => u !== '');
  if (uris.length === 0) return [];
  const diskCache = NarInfoDiskCache.open(defaultDiskCachePath(), {
    positive: settings.int('narinfo-cache-positive-ttl'),
    negative: settings.int('narinfo-cache-negative-ttl'),
  });
  return uris.map((uri) => {
      const { transport, params } = openTransport(uri, settings);
      const priority = params.get('priority');
      return new BinaryCache(transport, {
        storeDir,
        trustedKeys: keys,
        requireSigs,
        attempts: settings.int('download-attempts'),
        ...(diskCache ? { diskCache } : {}),
        ...(priority !== null && /^-?\d+$/.test(priority) ? { priority: Number(priority) } : {}),
        ...(params.get('trusted') === '1' || params.get('trusted') === 'true' ? { trusted: true } : {}),
      });
    });
}
