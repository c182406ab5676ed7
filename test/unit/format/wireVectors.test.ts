/**
 * The wire framing against the sessions real Nix 2.8 recorded (vectors/protocol): every
 * u64 and string the annotations name is read back from the captured bytes at its offset,
 * and re-encoded to the same bytes.
 */
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { encodeString, encodeU64, WireReader } from '../../../src/format/wire.js';
import { fixture } from '../../support/fixtures.js';

interface Field {
  dir: 'C>S' | 'S>C';
  offset: number;
  kind: 'u64' | 'string';
  value: string;
}

function streams(jsonl: string): Record<'C>S' | 'S>C', Buffer> {
  const parts: Record<'C>S' | 'S>C', Buffer[]> = { 'C>S': [], 'S>C': [] };
  for (const line of jsonl.split('\n')) {
    if (!line.trim()) continue;
    const chunk = JSON.parse(line) as { dir: 'C>S' | 'S>C'; hex: string };
    parts[chunk.dir].push(Buffer.from(chunk.hex, 'hex'));
  }
  return { 'C>S': Buffer.concat(parts['C>S']), 'S>C': Buffer.concat(parts['S>C']) };
}

/** The u64 fields (decimal value) and the string fields whose value is shown whole and plain. */
function fields(annotated: string): Field[] {
  const out: Field[] = [];
  for (const line of annotated.split('\n')) {
    const u64 = /^(C>S|S>C) ([0-9a-f]{6})  u64 .* = (\d+) \(0x[0-9a-f]+\)/.exec(line);
    if (u64) out.push({ dir: u64[1] as Field['dir'], offset: parseInt(u64[2]!, 16), kind: 'u64', value: u64[3]! });
    const str = /^(C>S|S>C) ([0-9a-f]{6})  string .* = "([^"\\]*)"$/.exec(line);
    if (str) out.push({ dir: str[1] as Field['dir'], offset: parseInt(str[2]!, 16), kind: 'string', value: str[3]! });
  }
  return out;
}

async function readAt(bytes: Buffer, field: Field): Promise<string> {
  const reader = new WireReader([bytes.subarray(field.offset)], 'capture');
  return field.kind === 'u64' ? String(await reader.readU64()) : reader.readString(1 << 20);
}

describe('wire framing against recorded Nix sessions (vectors/protocol)', () => {
  const sessions = readdirSync(fixture('protocol')).filter((f) => f.endsWith('.jsonl')).map((f) => f.slice(0, -'.jsonl'.length));
  it('has the recorded sessions', () => assert.ok(sessions.length >= 8, sessions.join(' ')));
  for (const session of sessions) {
    it(`reads every annotated u64 and string of ${session} back from the bytes, and encodes them the same`, async () => {
      const bytes = streams(readFileSync(fixture(`protocol/${session}.jsonl`), 'utf8'));
      const list = fields(readFileSync(fixture(`protocol/${session}.annotated.txt`), 'utf8'));
      assert.ok(list.length > 10, `${session}: ${list.length} fields`);
      for (const field of list) {
        const stream = bytes[field.dir];
        assert.equal(await readAt(stream, field), field.value, `${session} ${field.dir} at 0x${field.offset.toString(16)}`);
        const encoded = field.kind === 'u64' ? encodeU64(BigInt(field.value)) : encodeString(field.value);
        assert.ok(stream.subarray(field.offset, field.offset + encoded.length).equals(encoded), `${session} ${field.dir} at 0x${field.offset.toString(16)} re-encoded`);
      }
    });
  }
});
