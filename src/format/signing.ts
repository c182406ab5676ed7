/**
 * Ed25519 keys and signatures as Nix writes them (`nix-store --generate-binary-cache-key`,
 * narinfo `Sig:` lines): `<name>:<base64>` strings, signing the fingerprint of a path.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import { FormatError } from './errors.js';

export interface SecretKey {
  name: string;
  /** The 32-byte Ed25519 seed (RFC 8032 private key). */
  seed: Buffer;
  publicKey: Buffer;
}

export interface PublicKey {
  name: string;
  key: Buffer;
}

/** A key file or `trusted-public-keys` entry that Nix would not accept. */
export class SigningKeyError extends FormatError {
  override name = 'SigningKeyError';
}

// DER wrappers around raw Ed25519 keys (PKCS#8 for the seed, SPKI for the public key), so
// node:crypto takes the raw bytes without a JWK round trip.
const PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

function privateKeyObject(seed: Buffer): KeyObject {
  return createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, seed]), format: 'der', type: 'pkcs8' });
}

function publicKeyObject(key: Buffer): KeyObject {
  return createPublicKey({ key: Buffer.concat([SPKI_PREFIX, key]), format: 'der', type: 'spki' });
}

function rawPublicKey(object: KeyObject): Buffer {
  return object.export({ format: 'der', type: 'spki' }).subarray(SPKI_PREFIX.length);
}

/** Strict base64: Buffer.from would skip junk characters and accept a truncated string. */
function decodeBase64(text: string): Buffer | undefined {
  const bytes = Buffer.from(text, 'base64');
  return bytes.toString('base64') === text ? bytes : undefined;
}

/** `<name>:<base64>` with the decoded key checked to be `size` bytes. */
function parseKey(text: string, source: string, kind: 'secret' | 'public', size: number): { name: string; bytes: Buffer } {
  // Key files may end with a newline (an editor's, or `echo`'s); Nix's own have none.
  const trimmed = text.trimEnd();
  const colon = trimmed.indexOf(':');
  if (colon < 0) throw new SigningKeyError(`${kind} key '${source}' is corrupt: it is not of the form '<name>:<base64 key>'`);
  const name = trimmed.slice(0, colon);
  if (name === '') throw new SigningKeyError(`${kind} key '${source}' is corrupt: the key name is empty`);
  const bytes = decodeBase64(trimmed.slice(colon + 1));
  if (!bytes || bytes.length === 0) throw new SigningKeyError(`${kind} key '${source}' is corrupt: the key is not valid base64`);
  if (bytes.length !== size) {
    throw new SigningKeyError(`${kind} key '${source}' is not valid: it is ${bytes.length} bytes, not ${size}`);
  }
  return { name, bytes };
}

/** A secret key file: `<name>:<base64 of seed ‖ public key>` (libsodium's 64-byte layout). */
export function parseSecretKey(text: string, source: string): SecretKey {
  const { name, bytes } = parseKey(text, source, 'secret', 64);
  const seed = Buffer.from(bytes.subarray(0, 32));
  const publicKey = Buffer.from(bytes.subarray(32));
  // libsodium signs with the stored public half; a mismatched one would yield signatures
  // nobody can verify, so such a file is refused rather than silently "fixed".
  if (!rawPublicKey(createPublicKey(privateKeyObject(seed))).equals(publicKey)) {
    throw new SigningKeyError(`secret key '${source}' is not valid: its public half does not belong to its seed`);
  }
  return { name, seed, publicKey };
}

/** A public key file or `trusted-public-keys` entry: `<name>:<base64 of 32 bytes>`. */
export function parsePublicKey(text: string, source: string): PublicKey {
  const { name, bytes } = parseKey(text, source, 'public', 32);
  return { name, key: bytes };
}

/** A new key pair in Nix's file format (no trailing newline, as Nix writes them). */
export function generateKeyPair(name: string): { secret: string; public: string } {
  // The name is what precedes the first ':' when the file is read back.
  if (name === '' || name.includes(':') || /\s/.test(name)) {
    throw new SigningKeyError(`key name '${name}' is not valid: it must be non-empty, without ':' or whitespace`);
  }
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const seed = privateKey.export({ format: 'der', type: 'pkcs8' }).subarray(PKCS8_PREFIX.length);
  const pub = rawPublicKey(publicKey);
  return {
    secret: `${name}:${Buffer.concat([seed, pub]).toString('base64')}`,
    public: `${name}:${pub.toString('base64')}`,
  };
}

/** `<keyname>:<base64 signature>`; Ed25519 is deterministic, so this equals Nix's `Sig:`. */
export function signFingerprint(secret: SecretKey, fingerprint: string): string {
  const signature = sign(null, Buffer.from(fingerprint), privateKeyObject(secret.seed));
  return `${secret.name}:${signature.toString('base64')}`;
}

// Substituters check every narinfo against the same few keys: build each KeyObject once.
const keyObjects = new WeakMap<PublicKey, KeyObject>();

/**
 * Whether `sig` is a valid signature of `fingerprint` by a trusted key of the same name
 * (Nix looks keys up by name only). A malformed signature is simply not valid.
 */
export function verifySignature(sig: string, fingerprint: string, trusted: readonly PublicKey[]): boolean {
  const colon = sig.indexOf(':');
  if (colon <= 0) return false;
  const name = sig.slice(0, colon);
  const signature = decodeBase64(sig.slice(colon + 1));
  if (!signature || signature.length !== 64) return false;
  const message = Buffer.from(fingerprint);
  return trusted.some((key) => {
    if (key.name !== name || key.key.length !== 32) return false;
    let object = keyObjects.get(key);
    if (!object) keyObjects.set(key, (object = publicKeyObject(key.key)));
    return verify(null, message, object, signature);
  });
}
