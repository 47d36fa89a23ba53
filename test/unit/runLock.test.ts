// Who trains a run folder (src/train/runLock.ts): the lock a trainer holds, how a reader tells a live owner from a
// stale lock (process gone, pid reused, no heartbeat from another host), and the stop request a trainer reads.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  acquireRunLock, checkOwner, processIdentity, readRunLock, readRunOwner, requestStop, RunBusyError, RUN_LOCK_FILE, STOP_REQUEST_FILE, type RunLock,
} from '../../src/train/runLock';
import { tempDir } from './helpers';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function writeLock(dir: string, lock: Partial<RunLock>): RunLock {
  const now = new Date().toISOString();
  const full: RunLock = { version: 1, pid: process.pid, processId: processIdentity(process.pid), host: os.hostname(), owner: 'test', startedAt: now, heartbeat: now, token: 't', ...lock };
  fs.writeFileSync(path.join(dir, RUN_LOCK_FILE), JSON.stringify(full));
  return full;
}

/** The pid of a process that has ended (a short-lived child). */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  return Number(r.stdout);
}

test('a held run reads as alive with this process as owner; a second holder is refused; release frees it', () => {
  const dir = tempDir();
  const handle = acquireRunLock(dir, 'ulpt train');
  const owner = readRunOwner(dir);
  assert.equal(owner.state, 'alive');
  assert.ok(owner.state === 'alive' && owner.lock.pid === process.pid && owner.lock.owner === 'ulpt train' && owner.lock.host === os.hostname());
  if (process.platform === 'linux') assert.match(owner.lock.processId ?? '', /^linux:[0-9a-f-]+:\d+$/);
  assert.throws(() => acquireRunLock(dir, 'other'), (e: Error) => e instanceof RunBusyError && /already being trained by ulpt train \(pid \d+/.test(e.message));
  handle.release();
  assert.equal(readRunOwner(dir).state, 'none');
  assert.equal(fs.existsSync(path.join(dir, RUN_LOCK_FILE)), false);
});

test('a lock whose process is gone is stale, with the reason; a new owner takes it over', () => {
  const dir = tempDir();
  writeLock(dir, { pid: deadPid(), processId: null, owner: 'ULPT Studio' });
  const owner = readRunOwner(dir);
  assert.equal(owner.state, 'stale');
  assert.ok(owner.state === 'stale' && /trainer process \(pid \d+, ULPT Studio\) is gone: it ended without finishing/.test(owner.reason), owner.state === 'stale' ? owner.reason : '');
  const handle = acquireRunLock(dir, 'ulpt train');
  assert.equal(readRunLock(dir)?.pid, process.pid);
  handle.release();
});

test('a pid now used by another process is not mistaken for the owner (identity check)', { skip: process.platform !== 'linux' && 'needs /proc' }, () => {
  const dir = tempDir();
  // Our own pid, but the identity of an earlier process that had it: what pid reuse looks like.
  writeLock(dir, { processId: `linux:${fs.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim()}:1` });
  const owner = readRunOwner(dir);
  assert.ok(owner.state === 'stale' && /now belongs to another process/.test(owner.reason));
});

test('a run trained on another host is alive while its heartbeat is fresh, stale when it is not', () => {
  const dir = tempDir();
  const lock = writeLock(dir, { host: 'gpu-box-7', pid: 1 });
  assert.deepEqual(checkOwner(lock), { alive: true });
  const old = { ...lock, heartbeat: new Date(Date.now() - 120_000).toISOString() };
  const check = checkOwner(old);
  assert.ok(!check.alive && /on gpu-box-7 has not written a heartbeat since 2 min ago/.test(check.reason));
});

test('the heartbeat goes on while the main thread is blocked', async () => {
  const dir = tempDir();
  const handle = acquireRunLock(dir, 'test', { heartbeatMs: 50 });
  try {
    const first = readRunLock(dir)!.heartbeat;
    const until = Date.now() + 300;
    while (Date.now() < until) { /* a long synchronous step */ }
    await sleep(100);
    const later = readRunLock(dir)!.heartbeat;
    assert.ok(Date.parse(later) > Date.parse(first), `heartbeat moved: ${first} → ${later}`);
    assert.equal(readRunLock(dir)!.token, handle.lock.token);
  } finally {
    handle.release();
  }
});

test('a stop request reaches the owner; one left from an earlier attempt does not', async () => {
  const dir = tempDir();
  fs.writeFileSync(path.join(dir, STOP_REQUEST_FILE), JSON.stringify({ requestedAt: new Date(Date.now() - 3_600_000).toISOString(), by: 'old' }));
  const handle = acquireRunLock(dir, 'test');
  assert.equal(fs.existsSync(path.join(dir, STOP_REQUEST_FILE)), false, 'the leftover request was removed');
  assert.equal(handle.stopRequested(), false);
  requestStop(dir, 'ULPT Studio');
  assert.equal(handle.stopRequested(), true);
  const owner = readRunOwner(dir);
  assert.ok(owner.state === 'alive' && owner.stopRequested);
  handle.release();
  assert.equal(fs.existsSync(path.join(dir, STOP_REQUEST_FILE)), false, 'the answered request is cleared');
});

test('an empty or non-JSON lock.json (a process killed while taking it) is stale, not "taken" forever', () => {
  for (const [content, why] of [['', /lock\.json is empty: the process that took it was ended while writing it/], ['{"pid": 12', /lock\.json is not a lock/]] as const) {
    const dir = tempDir();
    const file = path.join(dir, RUN_LOCK_FILE);
    fs.writeFileSync(file, content);
    // Just written, it may still be being written by a tool that writes in place: not taken over yet.
    assert.equal(readRunOwner(dir).state, 'none');
    assert.throws(() => acquireRunLock(dir, 'ulpt train'), RunBusyError);
    const old = new Date(Date.now() - 10_000);
    fs.utimesSync(file, old, old);
    const owner = readRunOwner(dir);
    assert.ok(owner.state === 'stale' && owner.lock === null && why.test(owner.reason), JSON.stringify(owner));
    const handle = acquireRunLock(dir, 'ulpt train');
    assert.equal(readRunLock(dir)?.pid, process.pid);
    handle.release();
    assert.deepEqual(fs.readdirSync(dir), [], 'nothing left: no lock, no temp file');
  }
});
