/**
 * Settings for a command: defaults, then the config file(s), then TSNIX_CONFIG,
 * then `--option`s; the later wins, as with Nix's nix.conf, NIX_CONFIG and --option.
 */
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, join } from 'node:path';
import { type ConfigReader, parseNixConf } from '../format/nixConf.js';
import { Settings, UnknownSettingError } from '../store/settings.js';

/** Where the config file lives: `$TSNIX_CONF_DIR/tsnix.conf`, by default `/etc/tsnix/tsnix.conf`. */
export function configFilePath(env: NodeJS.ProcessEnv = process.env): string {
  return join(env['TSNIX_CONF_DIR'] ?? '/etc/tsnix', 'tsnix.conf');
}

const fileReader: ConfigReader = {
  read(path) {
    try {
      return readFileSync(path, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
  },
  resolve(fromFile, target) {
    return isAbsolute(target) ? target : join(dirname(fromFile), target);
  },
};

export function loadSettings(
  options: [string, string][],
  warn: (message: string) => void,
  env: NodeJS.ProcessEnv = process.env,
): Settings {
  const settings = new Settings();
  // Unknown names are warnings, as in Nix, so one config file can serve nix and tsnix.
  const apply = (name: string, value: string, origin: string): void => {
    try {
      settings.set(name, value, origin);
    } catch (e) {
      if (e instanceof UnknownSettingError) warn(`unknown setting '${name}'`);
      else throw e;
    }
  };
  const file = configFilePath(env);
  const text = fileReader.read(file);
  if (text !== undefined) for (const e of parseNixConf(text, file, fileReader)) apply(e.name, e.value, e.origin);
  const inline = env['TSNIX_CONFIG'];
  if (inline) for (const e of parseNixConf(inline, 'TSNIX_CONFIG')) apply(e.name, e.value, e.origin);
  for (const [name, value] of options) apply(name, value, '--option');
  return settings;
}
