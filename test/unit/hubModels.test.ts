// `ulpt models`' PyTorch-engine column (src/engine/modelProbe.ts, src/hub/models.ts): one start of the engine's
// Python answers for every model (transformers' Auto class for its model_type, safetensors weights, memory), and a
// missing Python is one failed start, said once, not one per model. Checked against the repo's .venv (transformers
// itself decides which model types it has) and against a stand-in interpreter that only counts its starts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { listModels, torchFit, TORCH_MEMORY_SHARE } from '../../src/hub/models';
import type { TorchProbe } from '../../src/engine/modelProbe';
import { checkPythonWith } from '../../src/engine/python';
import { ROOT, tempDir } from './helpers';

const MODEL_DIR = path.join(ROOT, 'examples', 'workspace', 'model');
const T5_DIR = path.join(ROOT, 'test', 'fixtures', 'tiny-t5');
const VENV = path.join(ROOT, '.venv', 'bin', 'python');

/** A workspace with the example GPT-2, a vision model (no causal LM head in transformers), an unknown model type. */
function workspace(): string {
  const dir = tempDir('ulpt-models-');
  const copy = (from: string, to: string, config?: object) => {
    fs.mkdirSync(path.join(dir, to), { recursive: true });
    for (const f of fs.readdirSync(from)) if (fs.statSync(path.join(from, f)).isFile()) fs.copyFileSync(path.join(from, f), path.join(dir, to, f));
    if (config) fs.writeFileSync(path.join(dir, to, 'config.json'), JSON.stringify(config));
  };
  copy(MODEL_DIR, 'gpt2');
  copy(MODEL_DIR, 'vision', { model_type: 'vit', architectures: ['ViTModel'] });
  copy(MODEL_DIR, 'made-up', { model_type: 'no-such-architecture' });
  copy(T5_DIR, 't5');
  return dir;
}

const env = (home: string): NodeJS.ProcessEnv => ({ ...process.env, HF_HUB_CACHE: path.join(home, 'empty-cache') });

test('with the repo\'s Python, transformers decides per model: its Auto class, or why not', { skip: !fs.existsSync(VENV) && 'no .venv (scripts/setup-python.sh)' }, async () => {
  const dir = workspace();
  const { models, torchProblem } = await listModels(dir, env(dir), VENV);
  assert.equal(torchProblem, null);
  const by = Object.fromEntries(models.map((m) => [m.name, m.torch]));
  // What the venv's transformers itself says about these model types, asked directly.
  const truth = spawnSync(VENV, ['-c', 'from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES as C; print(C.get("gpt2"), C.get("vit"))'], { encoding: 'utf8' }).stdout.trim();
  assert.equal(truth, 'GPT2LMHeadModel None');
  assert.equal(by.gpt2.ok, true);
  assert.match(by.gpt2.note, /^yes, on the CPU \(AutoModelForCausalLM → GPT2LMHeadModel; float32 weights .* of .*\)$/);
  assert.equal(by.vision.ok, false);
  assert.match(by.vision.note, /^transformers [\d.]+ has no AutoModelForCausalLM for model_type 'vit'$/);
  assert.equal(by['made-up'].ok, false);
  assert.match(by['made-up'].note, /^transformers cannot read its config\.json: .*no-such-architecture/);
  assert.equal(by.t5.ok, true);
  assert.match(by.t5.note, /AutoModelForSeq2SeqLM → T5ForConditionalGeneration/, 'an encoder-decoder model: the Seq2Seq class');
});

test('a missing Python is one failed start for all models, said once, and quick', async () => {
  const dir = workspace();
  const starts = path.join(dir, 'starts.log');
  // An interpreter that cannot run Python: it records each start and fails as a missing library would.
  const fake = path.join(dir, 'fake-python');
  fs.writeFileSync(fake, `#!/bin/sh\necho started >> '${starts}'\necho 'No module named torch' >&2\nexit 1\n`, { mode: 0o755 });
  const t0 = Date.now();
  const got = await listModels(dir, env(dir), fake);
  assert.ok(got.models.length >= 3);
  assert.equal(fs.readFileSync(starts, 'utf8'), 'started\n', 'one start for every model');
  assert.match(got.torchProblem ?? '', /fake-python \(from --python\) did not answer the version check/);
  for (const m of got.models) assert.deepEqual(m.torch, { ok: null, note: `the PyTorch engine is not available here: ${got.torchProblem}` });

  const absent = await listModels(dir, env(dir), path.join(dir, 'no-such-python'));
  assert.match(absent.torchProblem ?? '', /no-such-python \(from --python\) could not be run: .*ENOENT/);
  assert.ok(Date.now() - t0 < 5000, `took ${Date.now() - t0} ms`);
});

test('an interpreter that exits before reading its input (EPIPE) is reported by its exit status and message, not as one that could not start', () => {
  const fake = path.join(tempDir(), 'fake-python');
  fs.writeFileSync(fake, `#!/bin/sh\necho 'No module named torch' >&2\nexit 1\n`, { mode: 0o755 });
  // More input than a pipe holds: the write fails with EPIPE every time, not only when the exit wins a race.
  assert.throws(() => checkPythonWith({ path: fake, source: '--python' }, '', 'x'.repeat(1 << 20)),
    /fake-python \(from --python\) did not answer the version check \(exit status 1\): No module named torch/);
});

test('memory: float32 weights must fit the share of the memory the engine trains in; on CUDA bf16 halves them', () => {
  const dir = workspace();
  const m = { dir: path.join(dir, 'gpt2'), parameters: 1_000_000_000 };
  const probe = (cudaMemory: number | null): TorchProbe => ({
    available: true, report: { python: 'p', versions: {} as never, cuda: cudaMemory ? 1 : 0, mps: false }, source: 'test', where: cudaMemory ? '1 CUDA device' : 'the CPU', cudaMemory,
    models: { [m.dir]: { ok: true, autoClass: 'AutoModelForCausalLM', modelClass: 'GPT2LMHeadModel' } },
  });
  const gib = 2 ** 30;
  assert.equal(torchFit(probe(null), m, 4e9 / TORCH_MEMORY_SHARE).ok, true, '4 GB of weights in exactly the share');
  const small = torchFit(probe(null), m, 4e9 / TORCH_MEMORY_SHARE - 1);
  assert.equal(small.ok, false);
  assert.match(small.note, /float32 weights \(4\.00 GB\) exceed 80 % of this machine's memory \(5\.00 GB\)/);
  const bf16 = torchFit(probe(3 * gib), m, 64 * gib);
  assert.equal(bf16.ok, true, 'the CUDA device decides, not the machine');
  assert.match(bf16.note, /^with --precision bf16 on 1 CUDA device/);
  assert.equal(torchFit(probe(2 * gib), m, 64 * gib).ok, false);
  fs.rmSync(path.join(m.dir, 'model.safetensors'));
  assert.deepEqual(torchFit(probe(null), m, 64 * gib), { ok: false, note: 'it has no *.safetensors weights (the engine loads only those)' });
});
