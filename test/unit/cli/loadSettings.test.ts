import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadSettings } from '../../../src/cli/loadSettings.js';

function confDir(text: string, extra: Record<string, string> = {}): string {
  const dir = mkdtempSync(join(tmpdir(), 'tsnix-conf-'));
  writeFileSync(join(dir, 'tsnix.conf'), text);
  for (const [name, body] of Object.entries(extra)) writeFileSync(join(dir, name), body);
  return dir;
}

describe('configuration', () => {
  it('reads the config file, includes, TSNIX_CONFIG and --option, later winning', () => {
    const dir = confDir('sandbox = false # comment\ninclude more.conf\n!include missing.conf\n', { 'more.conf': 'cores = 3\nextra-sandbox-paths = /a\n' });
    const s = loadSettings([['cores', '5']], () => {}, { TSNIX_CONF_DIR: dir, TSNIX_CONFIG: 'extra-sandbox-paths = /b' });
    assert.equal(s.get('sandbox'), 'false');
    assert.equal(s.int('cores'), 5);
    assert.deepEqual(s.strings('sandbox-paths'), ['/a', '/b']);
  });
  it('names the file and line of a syntax error', () => {
    const dir = confDir('sandbox = true\nthis is not a setting\n');
    assert.throws(() => loadSettings([], () => {}, { TSNIX_CONF_DIR: dir }), /illegal configuration line 'this is not a setting' in '.*tsnix.conf:2'/);
  });
  it('refuses a bad value with the setting name and origin', () => {
    const dir = confDir('sandbox = maybe\n');
    assert.throws(() => loadSettings([], () => {}, { TSNIX_CONF_DIR: dir }), /setting 'sandbox' has invalid value 'maybe' \(.*tsnix.conf:1\)/);
  });
  it('warns about unknown settings as Nix does, and goes on', () => {
    const warnings: string[] = [];
    const s = loadSettings([['frobnicate', '1'], ['cores', '2']], (w) => warnings.push(w), { TSNIX_CONF_DIR: '/nonexistent' });
    assert.deepEqual(warnings, ["unknown setting 'frobnicate'"]);
    assert.equal(s.int('cores'), 2);
  });
  it('fails when a required include is missing', () => {
    const dir = confDir('include nope.conf\n');
    assert.throws(() => loadSettings([], () => {}, { TSNIX_CONF_DIR: dir }), /nope.conf' included from .* not found/);
  });
});
