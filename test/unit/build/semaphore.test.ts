import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import { Semaphore } from '../../../src/build/semaphore.js';
import { HeldEvents } from '../../../src/build/heldEvents.js';
import { QUIET_EVENTS } from '../../../src/build/events.js';

describe('job slots (Semaphore)', () => {
  it('serves waiters in arrival order, a released slot passing straight to the next', async () => {
    const slots = new Semaphore(1);
    const first = await slots.acquire();
    const order: number[] = [];
    const waiting = [1, 2, 3].map((n) => slots.acquire().then((release) => (order.push(n), release)));
    first();
    for (const w of waiting) (await w)();
    assert.deepEqual(order, [1, 2, 3]);
  });

  it('a thousand waiters on one signal add one listener, and all give up when it aborts', async () => {
    const slots = new Semaphore(1);
    const held = await slots.acquire();
    const controller = new AbortController();
    const waiting = Array.from({ length: 1000 }, () => slots.acquire(controller.signal));
    assert.equal(getEventListeners(controller.signal, 'abort').length, 1);
    controller.abort(new Error('stop'));
    const outcomes = await Promise.allSettled(waiting);
    assert.ok(outcomes.every((o) => o.status === 'rejected' && (o.reason as Error).message === 'stop'));
    // The slot is free again for a waiter without that signal.
    held();
    (await slots.acquire())();
  });

  it('waiters of another signal keep their place when one signal aborts', async () => {
    const slots = new Semaphore(1);
    const held = await slots.acquire();
    const a = new AbortController();
    const gone = slots.acquire(a.signal);
    const stays = slots.acquire(new AbortController().signal);
    a.abort(new Error('a'));
    await assert.rejects(gone, /a/);
    held();
    (await stays)();
  });
});

describe('held build events', () => {
  it('waits while held and lets everything through in order on release', () => {
    const seen: string[] = [];
    const events = new HeldEvents({
      ...QUIET_EVENTS,
      message: (text) => seen.push(text),
      substitutionStarted: (path) => seen.push(`copy ${path}`),
      downloaded: (path, bytes) => seen.push(`${bytes} bytes of ${path}`),
    });
    events.message('before');
    events.hold();
    events.substitutionStarted('/nix/store/x', 'file:///c');
    events.downloaded('/nix/store/x', 10);
    events.message('held');
    events.downloaded('/nix/store/x', 5);
    assert.deepEqual(seen, ['before']);
    events.release();
    events.message('after');
    events.downloaded('/nix/store/x', 1);
    // The bytes that came while held arrive as one event, in the place of the first.
    assert.deepEqual(seen, ['before', 'copy /nix/store/x', '15 bytes of /nix/store/x', 'held', 'after', '1 bytes of /nix/store/x']);
  });
});
