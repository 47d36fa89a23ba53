// The `ulpt` CLI and the trainer child process, run as users run them (the built bundles in dist/).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readAdapter, materializePrompt } from '../../src/io/adapter';
import { SafetensorsFile } from '../../src/io/safetensors';
import { resolveConfig } from '../../src/config';
import { acquireRunLock } from '../../src/train/runLock';
import type { TrainerMessage } from '../../src/protocol';
import { FIXTURES, ROOT, TINY, tempDir, maxAbsDiff } from './helpers';

const CLI = path.join(ROOT, 'dist', 'cli.js');

function ulpt(args: string[], cwd: string) {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd, encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function dataset(dir: string, lines: string[]): string {
  const file = path.join(dir, 'swap.jsonl');
  fs.writeFileSync(file, lines.join('\n') + '\n');
  return file;
}

const GOOD = Array.from({ length: 16 }, (_, i) => JSON.stringify({ input: `word ${i} =`, target: ` ${i % 4}` }));
const trainArgs = (dir: string, extra: string[] = []) =>
  ['train', '--model', TINY, '--train', dataset(dir, GOOD), '--steps', '3', '--prompt-length', '4', '--max-length', '16', '--batch-size', '4', '--backend', 'cpu', '--out', path.join(dir, 'a.ulpt'), '--run-dir', path.join(dir, 'run'), ...extra];

test('ulpt train --json streams typed messages and ends with an adapter that inspect reads', () => {
  const dir = tempDir();
  const r = ulpt(trainArgs(dir, ['--json']), dir);
  assert.equal(r.code, 0, r.stderr);
  const messages = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as TrainerMessage);
  assert.equal(messages[0].type, 'started');
  assert.deepEqual(messages.filter((m) => m.type === 'step').map((m) => (m as { step: number }).step), [1, 2, 3]);
  const last = messages.at(-1)!;
  assert.ok(last.type === 'finished' && last.summary.reason === 'completed' && last.summary.adapter === path.join(dir, 'a.ulpt'));
  const info = JSON.parse(ulpt(['inspect', path.join(dir, 'a.ulpt'), '--json'], dir).stdout);
  assert.equal(info.method, 'ulpt');
  assert.equal(info.rank, 2);
  assert.equal(info.num_virtual_tokens, 4);
  assert.equal(info.trainable_parameters, 4 * 2 + 2 * 32);
  assert.equal(info.base_model.name, 'tiny-gpt2');
});

test('ulpt eval scores an adapter on a dataset; predict prints one answer per input', () => {
  const dir = tempDir();
  assert.equal(ulpt(trainArgs(dir), dir).code, 0);
  const ev = ulpt(['eval', '--model', TINY, '--adapter', path.join(dir, 'a.ulpt'), '--data', path.join(dir, 'swap.jsonl'), '--backend', 'cpu', '--json'], dir);
  assert.equal(ev.code, 0, ev.stderr);
  const scores = JSON.parse(ev.stdout);
  assert.equal(scores.examples, 16);
  assert.ok(scores.exact_match >= 0 && scores.exact_match <= 1);
  assert.ok(scores.loss > 0);
  const pr = ulpt(['predict', '--model', TINY, '--adapter', path.join(dir, 'a.ulpt'), '--data', path.join(dir, 'swap.jsonl'), '--backend', 'cpu', '--json'], dir);
  assert.equal(pr.code, 0, pr.stderr);
  const lines = pr.stdout.trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(lines.length, 16);
  assert.ok(lines.every((l) => typeof l.prediction === 'string'));
});

test('ulpt train prints a summary for people (no JSON) and writes the run folder', () => {
  const dir = tempDir();
  const r = ulpt(trainArgs(dir), dir);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /ulpt: completed after 3 steps in [\d.]+ s on cpu/);
  assert.match(r.stdout, /adapter .*a\.ulpt \(\d+ bytes, 72 parameters\)/);
  for (const f of ['config.json', 'metrics.jsonl', 'checkpoint.safetensors', 'final.ulpt', 'summary.json']) {
    assert.ok(fs.existsSync(path.join(dir, 'run', f)), f);
  }
});

test('a bad dataset line is refused naming file, line and field, without a stack trace', () => {
  const dir = tempDir();
  const lines = [...GOOD.slice(0, 2), JSON.stringify({ input: 'no target here' }), ...GOOD.slice(3)];
  const r = ulpt(trainArgs(dir).map((a) => (a.endsWith('swap.jsonl') ? dataset(dir, lines) : a)), dir);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /swap\.jsonl line 3: .*"target"/);
  assert.doesNotMatch(r.stderr, /\n\s+at /);
});

test('configuration problems are listed field by field; unknown flags are usage errors', () => {
  const dir = tempDir();
  fs.writeFileSync(path.join(dir, 'c.json'), JSON.stringify({ model: TINY, train: 'x.jsonl', rank: 0, method: 'lora', stepz: 3 }));
  const r = ulpt(['train', '--config', path.join(dir, 'c.json')], dir);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /rank must be at least 1 \(got 0\)/);
  assert.match(r.stderr, /method must be one of: ulpt, prompt-tuning \(got "lora"\)/);
  assert.match(r.stderr, /stepz is not a setting of this version/);
  assert.equal(ulpt(['train', '--bogus'], dir).code, 2);
});

test('ulpt forward --json prints logits at every position that match the PyTorch reference', () => {
  const golden = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'tiny-gpt2-golden.json'), 'utf8'));
  const g = golden.variants['tiny-gpt2'].ids;
  const ids: number[] = g.input_ids[0]; // the unpadded sequence
  const r = ulpt(['forward', '--model', TINY, '--ids', ids.join(','), '--backend', 'cpu', '--json'], tempDir());
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  assert.deepEqual(out.shape, [ids.length, 300]);
  assert.ok(maxAbsDiff(out.logits.flat(), g.logits[0].flat()) < 1e-4);
});

test('export-peft writes the materialised prompt and a PROMPT_TUNING config', () => {
  const dir = tempDir();
  assert.equal(ulpt(trainArgs(dir), dir).code, 0);
  const r = ulpt(['export-peft', path.join(dir, 'a.ulpt'), '--out', path.join(dir, 'peft')], dir);
  assert.equal(r.code, 0, r.stderr);
  const cfg = JSON.parse(fs.readFileSync(path.join(dir, 'peft', 'adapter_config.json'), 'utf8'));
  assert.equal(cfg.peft_type, 'PROMPT_TUNING');
  assert.equal(cfg.task_type, 'CAUSAL_LM');
  assert.equal(cfg.num_virtual_tokens, 4);
  assert.equal(cfg.token_dim, 32);
  const st = SafetensorsFile.open(path.join(dir, 'peft', 'adapter_model.safetensors'));
  assert.deepEqual(st.info('prompt_embeddings').shape, [4, 32]);
  assert.deepEqual(st.float32('prompt_embeddings'), materializePrompt(readAdapter(path.join(dir, 'a.ulpt'))));
  st.close();
});

test('an adapter is refused for a model it was not trained for, naming that model', () => {
  const dir = tempDir();
  assert.equal(ulpt(trainArgs(dir), dir).code, 0);
  const r = ulpt(['predict', '--model', path.join(FIXTURES, 'tiny-gpt2-f16-sharded'), '--adapter', path.join(dir, 'a.ulpt'), '--input', 'word 1 ='], dir);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /was trained for gpt2 model "tiny-gpt2" \(fingerprint sha256:/);
});

test('a run another process trains is not touched: ulpt train --resume names the owner and exits 1', () => {
  const dir = tempDir();
  const runDir = path.join(dir, 'run');
  assert.equal(ulpt(trainArgs(dir, ['--steps', '2']), dir).code, 0);
  // This test process holds the run, as a trainer would.
  const handle = acquireRunLock(runDir, 'ULPT Studio');
  try {
    const before = fs.readFileSync(path.join(runDir, 'metrics.jsonl'), 'utf8');
    const r = ulpt(['train', '--resume', runDir], dir);
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`already being trained by ULPT Studio \\(pid ${process.pid}`));
    assert.equal(fs.readFileSync(path.join(runDir, 'metrics.jsonl'), 'utf8'), before, 'metrics untouched');
  } finally {
    handle.release();
  }
});
