// Writes that cannot lie (issue 16, items 1 and 2): a write that does not reach the disk whole is never taken as
// success. The write path itself is tested with a simulated device (io.writeSync replaced: short writes, a full
// disk part-way); the CLI is tested on a real full disk (a small tmpfs, where this process may mount one) and,
// everywhere, with the trainer in-process on the simulated device. A closed stdout never ends a run.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { resolveConfig } from '../../src/config';
import { readAdapter } from '../../src/io/adapter';
import { appendFileChecked, createFileExclusive, io, writeFileAtomic, WriteError } from '../../src/io/atomic';
import { train } from '../../src/train/trainer';
import { diagnoseRun } from '../../src/train/runFolder';
import { backend, ROOT, TINY, tempDir } from './helpers';

const CLI = process.env.ULPT_CLI ?? path.join(ROOT, 'dist', 'cli.js');
const GOOD = Array.from({ length: 16 }, (_, i) => JSON.stringify({ input: `word ${i} =`, target: ` ${i % 4}` })).join('\n') + '\n';

function ulpt(args: string[], cwd: string) {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd, encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, all: r.stdout + r.stderr };
}

function data(dir: string): string {
  const file = path.join(dir, 'swap.jsonl');
  fs.writeFileSync(file, GOOD);
  return file;
}

const trainArgs = (dir: string, extra: string[]) => ['train', '--model', TINY, '--train', data(dir), '--prompt-length', '4', '--max-length', '16', '--batch-size', '4', '--backend', 'cpu', ...extra];

const noStack = (s: string) => assert.doesNotMatch(s, /\n\s+at .+:\d+:\d+/, 'no stack trace');

/** Replaces the device's write call for one test: `fake` gets what the real call would, plus the real call. */
function simulateDevice(t: TestContext, fake: (real: typeof io.writeSync, ...args: Parameters<typeof io.writeSync>) => number): void {
  const real = io.writeSync;
  io.writeSync = (...args) => fake(real, ...args);
  t.after(() => {
    io.writeSync = real;
  });
}

const enospc = () => Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });

// ---- The write path, on a simulated device

test('a device that writes a few bytes at a time still gets the whole file (short writes are continued)', (t) => {
  const dir = tempDir();
  simulateDevice(t, (real, fd, buf, off, len, where) => real(fd, buf, off, Math.min(len, 7), where));
  const bytes = Buffer.from(Array.from({ length: 1000 }, (_, i) => i % 251));
  writeFileAtomic(path.join(dir, 'a.bin'), bytes);
  assert.deepEqual(fs.readFileSync(path.join(dir, 'a.bin')), bytes);
  appendFileChecked(path.join(dir, 'a.bin'), 'tail\n');
  assert.equal(fs.readFileSync(path.join(dir, 'a.bin')).length, 1005);
  assert.deepEqual(fs.readdirSync(dir), ['a.bin']);
});

test('a full disk part-way: the old file stays byte for byte, no temp file, the error names the file and the cause', (t) => {
  const dir = tempDir();
  const file = path.join(dir, 'best.ulpt');
  fs.writeFileSync(file, 'the good adapter');
  let written = 0;
  simulateDevice(t, (real, fd, buf, off, len, where) => {
    if (written >= 100) throw enospc();
    const n = real(fd, buf, off, Math.min(len, 100 - written), where);
    written += n;
    return n; // a short write first (what the old writer took as success), then ENOSPC
  });
  assert.throws(() => writeFileAtomic(file, Buffer.alloc(5000, 1)), (e: Error) =>
    e instanceof WriteError && e.code === 'ENOSPC' && e.message === `no space left on the device while writing ${file}`);
  assert.equal(fs.readFileSync(file, 'utf8'), 'the good adapter');
  assert.deepEqual(fs.readdirSync(dir), ['best.ulpt']);
});

test('a device that stops making progress (writes 0 bytes) is a failure, not an endless loop or a success', (t) => {
  const dir = tempDir();
  simulateDevice(t, () => 0);
  assert.throws(() => writeFileAtomic(path.join(dir, 'x.json'), '{}'), /no space left on the device while writing .*x\.json/);
  assert.throws(() => createFileExclusive(path.join(dir, 'y.json'), '{}'), /while writing .*y\.json/);
  assert.deepEqual(fs.readdirSync(dir), []);
});

test('an append that stops part-way is cut back: the file keeps only whole lines, and the error says so', (t) => {
  const dir = tempDir();
  const file = path.join(dir, 'metrics.jsonl');
  fs.writeFileSync(file, '{"step":1}\n');
  simulateDevice(t, (real, fd, buf, off, len, where) => {
    if (off > 0) throw enospc();
    return real(fd, buf, off, 5, where);
  });
  assert.throws(() => appendFileChecked(file, '{"step":2,"loss":1.5}\n'), /no space left on the device while appending to .*metrics\.jsonl/);
  assert.equal(fs.readFileSync(file, 'utf8'), '{"step":1}\n');
});

test('in-process: a checkpoint that cannot be written stops the run with the last good one intact, and it resumes', async (t) => {
  const dir = tempDir();
  const runDir = path.join(dir, 'run');
  const config = resolveConfig({ model: TINY, train: data(dir), steps: 8, batchSize: 4, maxLength: 16, promptLength: 4, evalEvery: 0, checkpointEvery: 2, backend: 'cpu', threads: 1, out: path.join(dir, 'a.ulpt') }, dir);
  let checkpoints = 0;
  let full = false;
  simulateDevice(t, (real, fd, buf, off, len, where) => {
    // The disk fills while the second checkpoint (step 4) is written: half of it gets out.
    if (/checkpoint\.safetensors\.\d+\.[0-9a-f]+\.tmp$/.test(where) && off === 0 && ++checkpoints === 2) full = true;
    if (full && off > 0) throw enospc();
    return real(fd, buf, off, full ? Math.floor(len / 2) : len, where);
  });
  const be = await backend();
  await assert.rejects(train(config, { runDir, backend: be }), (e: Error) => e instanceof WriteError &&
    e.message.startsWith(`no space left on the device while writing ${path.join(runDir, 'checkpoint.safetensors')}. The run stopped at step 4; ${runDir} keeps its checkpoint of step 2 intact.`));
  const d = diagnoseRun(runDir);
  assert.equal(d.checkpointStep, 2);
  assert.ok(d.resumable);
  assert.ok(!fs.existsSync(path.join(runDir, 'lock.json')), 'the lock is released');
  assert.deepEqual(fs.readdirSync(runDir).filter((f) => f.endsWith('.tmp')), [], 'no temp file');
  full = false;
  checkpoints = 10;
  const summary = await train(config, { runDir, backend: be, resume: true });
  assert.equal(summary.steps, 8);
  assert.equal(readAdapter(path.join(dir, 'a.ulpt')).meta.training.steps_done, 8);
});

test('in-process: a disk full when a fresh run starts leaves nothing behind', async (t) => {
  const dir = tempDir();
  const runDir = path.join(dir, 'runs', 'one');
  const config = resolveConfig({ model: TINY, train: data(dir), steps: 2, batchSize: 4, maxLength: 16, promptLength: 4, backend: 'cpu', threads: 1, out: path.join(dir, 'a.ulpt') }, dir);
  simulateDevice(t, () => {
    throw enospc();
  });
  await assert.rejects(train(config, { runDir, backend: await backend() }), /no space left on the device while writing .*config\.json/);
  assert.deepEqual(fs.readdirSync(dir), ['swap.jsonl']);
});

test('in-process: a disk that fills just after the run folder was claimed (taking the lock) leaves nothing behind', async (t) => {
  const dir = tempDir();
  const runDir = path.join(dir, 'runs', 'one');
  const config = resolveConfig({ model: TINY, train: data(dir), steps: 2, batchSize: 4, maxLength: 16, promptLength: 4, backend: 'cpu', threads: 1, out: path.join(dir, 'a.ulpt') }, dir);
  simulateDevice(t, (real, fd, buf, off, len, where) => {
    if (/lock\.json\.\d+\.[0-9a-f]+\.tmp$/.test(where)) throw enospc();
    return real(fd, buf, off, len, where);
  });
  await assert.rejects(train(config, { runDir, backend: await backend() }),
    new RegExp(`no space left on the device while writing .*lock\\.json\\. The run stopped before its first checkpoint \\(nothing was trained yet\\), so its folder ${runDir} was removed again\\.`));
  assert.deepEqual(fs.readdirSync(dir), ['swap.jsonl']);
});

// ---- The CLI on a real full disk (a tmpfs)

/** A fresh tmpfs of `kb` KiB, unmounted after the test; null where this process may not mount one. */
function smallDisk(t: TestContext, kb: number): string | null {
  const dir = tempDir('ulpt-disk-');
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${kb}k`, 'tmpfs', dir], { encoding: 'utf8' });
  if (r.status !== 0) return null;
  t.after(() => unmount(dir));
  return dir;
}

/** Unmounts a test disk (lazily when a file on it is still open) and removes its mount point. */
function unmount(dir: string): void {
  if (spawnSync('umount', [dir]).status !== 0) spawnSync('umount', ['-l', dir]);
  fs.rmSync(dir, { recursive: true, force: true });
}

/** Fills the disk holding `dir` up to its last byte, then frees `leave` bytes again. */
function fill(dir: string, leave = 0): void {
  const file = path.join(dir, 'filler');
  const fd = fs.openSync(file, 'a');
  try {
    for (const size of [4096, 1]) {
      try {
        for (;;) fs.writeSync(fd, Buffer.alloc(size));
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOSPC') throw e;
      }
    }
  } finally {
    fs.closeSync(fd);
  }
  if (leave) fs.truncateSync(file, fs.statSync(file).size - leave);
}

test('CLI, disk full at --out: the old adapter is kept, no temp file, exit 1 naming the file and the cause', (t) => {
  const disk = smallDisk(t, 256);
  if (!disk) return t.skip('cannot mount a tmpfs here (not root); the in-process tests above cover the write path');
  const dir = tempDir();
  const out = path.join(disk, 'a.ulpt');
  // A vanilla prompt of 40 × 32 floats: an adapter larger than the one page (4 KiB) left free, so the write is short.
  const args = (run: string, steps: string) => trainArgs(dir, ['--method', 'prompt-tuning', '--prompt-length', '40', '--steps', steps, '--out', out, '--run-dir', path.join(dir, run)]);
  assert.equal(ulpt(args('run1', '1'), dir).code, 0);
  const before = fs.readFileSync(out);
  assert.ok(before.length > 4096);
  fill(disk, 4096);
  const r = ulpt(args('run2', '2'), dir);
  assert.equal(r.code, 1, r.all);
  assert.match(r.stderr, new RegExp(`ulpt: no space left on the device while writing ${out} \\(what was there is unchanged; the trained adapter is in .*run2/final\\.ulpt\\)`));
  assert.doesNotMatch(r.stdout, /adapter .*bytes/, 'no success reported');
  noStack(r.stderr);
  assert.deepEqual(fs.readFileSync(out), before);
  assert.deepEqual(fs.readdirSync(disk).sort(), ['a.ulpt', 'filler']);
});

test('CLI, disk fills mid-run: training stops with the last good checkpoint, the lock released, and resumes', async (t) => {
  const disk = smallDisk(t, 1024);
  if (!disk) return t.skip('cannot mount a tmpfs here (not root); the in-process tests above cover a failed checkpoint');
  const dir = tempDir();
  const runDir = path.join(disk, 'run');
  const args = trainArgs(dir, ['--steps', '400', '--checkpoint-every', '5', '--eval-every', '0', '--out', path.join(dir, 'a.ulpt'), '--run-dir', runDir]);
  const child = spawn(process.execPath, [CLI, ...args], { cwd: dir });
  let stderr = '';
  child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  while (!fs.existsSync(path.join(runDir, 'checkpoint.safetensors'))) await new Promise((r) => setTimeout(r, 20));
  fill(disk);
  const code = await exited;
  assert.equal(code, 1, stderr);
  const m = /ulpt: no space left on the device while (?:writing|appending to) (\S+)\. The run stopped at step (\d+); \S+ keeps its checkpoint of step (\d+) intact\. Free some space, then continue it with: ulpt train --resume /.exec(stderr);
  assert.ok(m, stderr);
  noStack(stderr);
  assert.ok(Number(m[3]) <= Number(m[2]) && Number(m[3]) % 5 === 0);
  assert.ok(!fs.existsSync(path.join(runDir, 'lock.json')), 'the lock is released');
  assert.deepEqual(fs.readdirSync(runDir).filter((f) => f.endsWith('.tmp')), []);
  const inspect = ulpt(['inspect', runDir], dir);
  assert.match(inspect.stdout, new RegExp(`resumable from step ${m[3]}`));
  fs.rmSync(path.join(disk, 'filler'));
  const resumed = ulpt(['train', '--resume', runDir], dir);
  assert.equal(resumed.code, 0, resumed.all);
  assert.equal(JSON.parse(fs.readFileSync(path.join(runDir, 'summary.json'), 'utf8')).steps, 400);
  // Every step once: what was written after the checkpoint was dropped and trained again.
  const steps = fs.readFileSync(path.join(runDir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l).step);
  assert.deepEqual(steps, Array.from({ length: 400 }, (_, i) => i + 1));
});

test('CLI, disk full at the start: a fresh run leaves no folder behind', (t) => {
  const disk = smallDisk(t, 64);
  if (!disk) return t.skip('cannot mount a tmpfs here (not root); the in-process test above covers it');
  const dir = tempDir();
  fill(disk);
  const r = ulpt(trainArgs(dir, ['--steps', '2', '--out', path.join(dir, 'a.ulpt'), '--run-dir', path.join(disk, 'runs', 'one')]), dir);
  assert.equal(r.code, 1, r.all);
  assert.match(r.stderr, /no space left on the device while writing .*runs\/one\/config\.json/);
  assert.deepEqual(fs.readdirSync(disk), ['filler']);
});

// ---- A closed stdout (`ulpt train … | head -1`)

async function trainWithClosedStdout(dir: string, extra: string[]) {
  const runDir = path.join(dir, 'run');
  const child = spawn(process.execPath, [CLI, ...trainArgs(dir, ['--steps', '30', '--out', path.join(dir, 'a.ulpt'), '--run-dir', runDir, ...extra])], { cwd: dir });
  let stderr = '';
  // Like `head -1`: read the first chunk, then close the pipe.
  await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()).on('end', () => resolve()));
  child.stdout.destroy();
  child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  return { code, stderr, runDir };
}

test('--json with stdout closed after the first line: training goes on to the end, lock released, exit 0', async () => {
  const dir = tempDir();
  const r = await trainWithClosedStdout(dir, ['--json']);
  assert.equal(r.code, 0, r.stderr);
  assert.doesNotMatch(r.stderr, /EPIPE|Unhandled/);
  noStack(r.stderr);
  assert.equal(JSON.parse(fs.readFileSync(path.join(r.runDir, 'summary.json'), 'utf8')).steps, 30);
  assert.ok(!fs.existsSync(path.join(r.runDir, 'lock.json')));
  assert.equal(readAdapter(path.join(dir, 'a.ulpt')).meta.training.steps_done, 30);
});

test('human output with stdout and stderr closed early: the run still finishes and writes its adapter', async () => {
  const dir = tempDir();
  // Like `ulpt train … 2>&1 | head -1`: stdout closed at once, stderr after its first line (progress goes there).
  const runDir = path.join(dir, 'run');
  const child = spawn(process.execPath, [CLI, ...trainArgs(dir, ['--steps', '30', '--out', path.join(dir, 'a.ulpt'), '--run-dir', runDir])], { cwd: dir });
  child.stdout.destroy();
  await new Promise<void>((resolve) => child.stderr.once('data', () => resolve()));
  child.stderr.destroy();
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  assert.equal(code, 0);
  assert.equal(JSON.parse(fs.readFileSync(path.join(runDir, 'summary.json'), 'utf8')).steps, 30);
  assert.ok(!fs.existsSync(path.join(runDir, 'lock.json')));
  assert.equal(readAdapter(path.join(dir, 'a.ulpt')).meta.training.steps_done, 30);
});
