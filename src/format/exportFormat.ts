/**
 * The `nix-store --export` stream: for each path `u64 1`, its NAR, the magic
 * "NIXE", path, references, deriver and a signature marker; then `u64 0`.
 * The NAR part is read and written by the NAR modules; this file holds the rest.
 */
import { WireFormatError } from './errors.js';
import { WireReader, WireWriter, encodeU64 } from './wire.js';

export const EXPORT_MAGIC = 0x4558494e;
/** Longest store path we accept in a trailer: store dir + 244-char base name, with room to spare. */
const MAX_PATH_LENGTH = 4096;
const MAX_REFERENCES = 1 << 20;

export interface ExportTrailer {
  path: string;
  references: string[];
  /** Empty when unknown. */
  deriver: string;
}

export const EXPORT_NEXT = encodeU64(1);
export const EXPORT_END = encodeU64(0);

export function encodeExportTrailer(trailer: ExportTrailer): Buffer {
  return new WireWriter()
    .u64(EXPORT_MAGIC)
    .string(trailer.path)
    .strings([...trailer.references].sort())
    .string(trailer.deriver)
    .u64(0)
    .toBuffer();
}

/** Reads the `u64 1` / `u64 0` that precedes each entry; true when an entry follows. */
export async function readExportMarker(reader: WireReader): Promise<boolean> {
  const marker = await reader.readU64();
  if (marker === 0) return false;
  if (marker !== 1) throw new WireFormatError(`${reader.what}: input doesn't look like something created by 'nix-store --export' (marker ${marker} at offset ${reader.position - 8})`);
  return true;
}

export async function readExportTrailer(reader: WireReader): Promise<ExportTrailer> {
  const magic = await reader.readU64();
  if (magic !== EXPORT_MAGIC) {
    throw new WireFormatError(`${reader.what}: Nix archive cannot be imported; wrong format (no export magic at offset ${reader.position - 8})`);
  }
  const path = await reader.readString(MAX_PATH_LENGTH);
  const references = await reader.readStrings(MAX_REFERENCES, MAX_PATH_LENGTH);
  const deriver = await reader.readString(MAX_PATH_LENGTH);
  // An old signature format may follow; Nix reads and ignores it.
  const hasSignature = await reader.readU64();
  if (hasSignature === 1) await reader.readBytes(1 << 16);
  else if (hasSignature !== 0) throw new WireFormatError(`${reader.what}: bad signature marker ${hasSignature} for '${path}'`);
  return { path, references, deriver };
}
