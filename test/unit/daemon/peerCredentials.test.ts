import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { identify, matchUser } from '../../../src/daemon/peerCredentials.js';
import { tempDir } from '../../support/cli.js';

describe('daemon users: nix.conf user lists', () => {
  const etc = tempDir();
  writeFileSync(join(etc, 'passwd'), 'root:x:0:0:root:/root:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/sh\nbob:x:1001:100::/home/bob:/bin/sh\n');
  writeFileSync(join(etc, 'group'), 'root:x:0:\nalice:x:1000:\nusers:x:100:\nwheel:x:10:alice,carol\n');

  it('names a peer by its uid and gid, or by the numbers when unknown', () => {
    assert.deepEqual(identify({ pid: 1, uid: 1000, gid: 1000 }, etc), { user: 'alice', group: 'alice' });
    assert.deepEqual(identify({ pid: 1, uid: 4242, gid: 4343 }, etc), { user: '4242', group: '4343' });
  });

  it('matches *, names, @primary-group and @group membership, as nix-daemon', () => {
    const alice = identify({ pid: 1, uid: 1000, gid: 1000 }, etc);
    const bob = identify({ pid: 1, uid: 1001, gid: 100 }, etc);
    assert.ok(matchUser(alice, ['*'], etc));
    assert.ok(matchUser(alice, ['root', 'alice'], etc));
    assert.ok(!matchUser(bob, ['root', 'alice'], etc));
    assert.ok(matchUser(bob, ['@users'], etc), 'primary group');
    assert.ok(matchUser(alice, ['@wheel'], etc), 'listed member');
    assert.ok(!matchUser(bob, ['@wheel', '@nosuchgroup'], etc));
    assert.ok(!matchUser(bob, [], etc));
  });
});
