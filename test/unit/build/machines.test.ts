import assert from 'node:assert/strict';
import { BadMachineError, machineFits, parseMachines } from '../../../src/build/remote/machines.js';

describe('builders (machine specifications, nix.conf syntax)', () => {
  it('reads every field, "-" for defaults, ";" and newlines between machines, comments', () => {
    const machines = parseMachines('ssh://a x86_64-linux,i686-linux /k 4 2 kvm,big-parallel kvm ; ssh://root@b - - - - -\n# none\nssh://c', 'x86_64-linux');
    assert.deepEqual(machines, [
      { uri: 'ssh://a', systems: ['x86_64-linux', 'i686-linux'], sshKey: '/k', maxJobs: 4, speedFactor: 2, supportedFeatures: ['kvm', 'big-parallel'], mandatoryFeatures: ['kvm'] },
      { uri: 'ssh://root@b', systems: ['x86_64-linux'], sshKey: undefined, maxJobs: 1, speedFactor: 1, supportedFeatures: [], mandatoryFeatures: [] },
      { uri: 'ssh://c', systems: ['x86_64-linux'], sshKey: undefined, maxJobs: 1, speedFactor: 1, supportedFeatures: [], mandatoryFeatures: [] },
    ]);
  });

  it('@FILE reads machines from a file; a bad field or URI is an error naming the line', () => {
    const files: Record<string, string> = { '/m': 'ssh://x aarch64-linux\nssh://y' };
    assert.deepEqual(parseMachines('@/m', 'x86_64-linux', (p) => files[p]!).map((m) => [m.uri, m.systems]), [['ssh://x', ['aarch64-linux']], ['ssh://y', ['x86_64-linux']]]);
    assert.throws(() => parseMachines('ssh://a x86_64-linux - many', 'x86_64-linux'), (e: Error) => e instanceof BadMachineError && /bad number of jobs 'many'/.test(e.message));
    // As Nix: a bare host is an ssh:// machine; a missing machines file names none; no jobs, no machine.
    assert.deepEqual(parseMachines('root@host x86_64-linux', 'x86_64-linux').map((m) => m.uri), ['ssh://root@host']);
    const missing = Object.assign(new Error('no such file'), { code: 'ENOENT' });
    assert.deepEqual(parseMachines('@/missing', 'x86_64-linux', () => { throw missing; }), []);
    assert.deepEqual(parseMachines('ssh://idle x86_64-linux - 0', 'x86_64-linux'), []);
    assert.throws(() => parseMachines('ssh-ng://host', 'x86_64-linux'), /over ssh:\/\/ \(the serve protocol\) only/);
    assert.throws(() => parseMachines('@/unreadable', 'x86_64-linux', () => { throw Object.assign(new Error('denied'), { code: 'EACCES' }); }), /cannot read the builders file '\/unreadable'/);
  });

  it('a machine fits a derivation of its systems whose features it has, and which asks for its mandatory ones', () => {
    const [m] = parseMachines('ssh://a x86_64-linux - 1 1 kvm,big-parallel benchmark', 'x86_64-linux');
    assert.equal(machineFits(m!, 'x86_64-linux', ['benchmark']), true);
    assert.equal(machineFits(m!, 'x86_64-linux', ['benchmark', 'kvm']), true);
    assert.equal(machineFits(m!, 'x86_64-linux', []), false, 'its mandatory feature is not asked for');
    assert.equal(machineFits(m!, 'x86_64-linux', ['benchmark', 'nixos-test']), false);
    assert.equal(machineFits(m!, 'aarch64-linux', ['benchmark']), false);
  });
});
