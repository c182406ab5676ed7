/**
 * The nix.conf syntax: `name = value` lines, `#` comments, `include FILE` and
 * `!include FILE` (the latter optional). Pure: the caller supplies file reading.
 */
import { FormatError } from './errors.js';

export class ConfigSyntaxError extends FormatError {
  override name = 'ConfigSyntaxError';
}

export interface ConfigEntry {
  name: string;
  value: string;
  /** Where it was set, for messages: `file:line`. */
  origin: string;
}

export interface ConfigReader {
  /** Returns the file's text, or undefined when it does not exist. */
  read(path: string): string | undefined;
  /** Resolves an include relative to the including file. */
  resolve(fromFile: string, target: string): string;
}

const MAX_INCLUDE_DEPTH = 16;

export function parseNixConf(text: string, file: string, reader?: ConfigReader, depth = 0): ConfigEntry[] {
  const entries: ConfigEntry[] = [];
  const lines = text.split('\n');
  for (let index = 0; index < lines.length; index++) {
    const origin = `${file}:${index + 1}`;
    const hash = lines[index]!.indexOf('#');
    const line = (hash >= 0 ? lines[index]!.slice(0, hash) : lines[index]!).trim();
    if (line === '') continue;
    const words = line.split(/\s+/);
    if (words[0] === 'include' || words[0] === '!include') {
      if (words.length !== 2) throw new ConfigSyntaxError(`illegal configuration line '${line}' in '${origin}'`);
      if (!reader) throw new ConfigSyntaxError(`'include' is not allowed in '${origin}'`);
      if (depth >= MAX_INCLUDE_DEPTH) throw new ConfigSyntaxError(`too many nested includes at '${origin}'`);
      const target = reader.resolve(file, words[1]!);
      const included = reader.read(target);
      if (included === undefined) {
        if (words[0] === 'include') throw new ConfigSyntaxError(`file '${target}' included from '${origin}' not found`);
        continue;
      }
      entries.push(...parseNixConf(included, target, reader, depth + 1));
      continue;
    }
    // As nix: whitespace-separated words, the second exactly '='; the value is the rest of
    // the words joined by single spaces (so `a=b` is refused, `a = ` sets an empty value).
    if (words.length < 2 || words[1] !== '=') throw new ConfigSyntaxError(`illegal configuration line '${line}' in '${origin}'`);
    entries.push({ name: words[0]!, value: words.slice(2).join(' '), origin });
  }
  return entries;
}
