import assert from 'node:assert/strict';
import { parseArgs, UsageError } from '../../../src/cli/args.js';

describe('tsnix-store argument parsing', () => {
  it('reads grouped short flags as nix-store does (-qR)', () => {
    const a = parseArgs(['-qR', '/nix/store/x']);
    assert.equal(a.operation, 'query');
    assert.equal(a.query, 'requisites');
    assert.deepEqual(a.args, ['/nix/store/x']);
  });
  it('takes --store and repeated --option NAME VALUE anywhere', () => {
    const a = parseArgs(['--option', 'use-case-hack', 'true', '--add', 'f', '--store', '/tmp/s', '--option', 'sandbox', 'false']);
    assert.equal(a.store, '/tmp/s');
    assert.deepEqual(a.options, [['use-case-hack', 'true'], ['sandbox', 'false']]);
    assert.deepEqual(a.args, ['f']);
  });
  it('keeps arguments that look like numbers as they are', () => {
    assert.deepEqual(parseArgs(['--print-fixed-path', 'sha256', '0x10', '1e2']).args, ['sha256', '0x10', '1e2']);
    assert.deepEqual(parseArgs(['--add', '1.50', '007']).args, ['1.50', '007']);
  });
  it('defaults the query to --outputs', () => assert.equal(parseArgs(['-q', 'p']).query, 'outputs'));
  it('refuses two operations', () => assert.throws(() => parseArgs(['--add', '--dump', 'x']), /only one operation/));
  it('refuses no operation', () => assert.throws(() => parseArgs(['x']), UsageError));
  it('refuses an unknown flag', () => assert.throws(() => parseArgs(['--add', '--frobnicate', 'x']), /frobnicate/));
  it('refuses --option without two values', () => assert.throws(() => parseArgs(['--add', '--option', 'x']), /requires 2 arguments/));
});
