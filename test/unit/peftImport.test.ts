// PEFT import (src/io/peft.ts) on folders written here byte by byte, as PEFT lays them out. The same code against
// folders saved by the real peft package, and the logits they give: python/tests/test_peft_interop.py.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readAdapterView } from '../../extension/views/adapterView';
import { materializePrompt, readAdapter, writeAdapter } from '../../src/io/adapter';
import { adapterFromPeft, peftBaseModelFolder, peftBaseModelName, readPeftPrompt, type PeftImportModel } from '../../src/io/peft';
import { writeSafetensors } from '../../src/io/safetensors';
import { ROOT, TINY, maxAbsDiff, tempDir } from './helpers';

const tmp = tempDir('ulpt-peft-import-');
test.after(() => fs.rmSync(tmp, { recursive: true, force: true }));
let counter = 0;

const MODEL: PeftImportModel = { modelType: 'gpt2', name: 'tiny-gpt2', fingerprint: 'sha256:0123456789abcdef:100x4', vocabSize: 100, hiddenSize: 4 };

/** adapter_config.json with the fields PEFT's PromptTuningConfig writes (those the import reads, and a few more). */
function peftConfig(over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    base_model_name_or_path: 'openai-community/gpt2', inference_mode: true, num_transformer_submodules: 1, num_virtual_tokens: 3,
    peft_type: 'PROMPT_TUNING', prompt_tuning_init: 'RANDOM', task_type: 'CAUSAL_LM', token_dim: 4, ...over,
  };
}

function peftFolder(config: Record<string, unknown>, weights?: (file: string) => void): string {
  const dir = path.join(tmp, `peft-${counter++}`);
  fs.mkdirSync(dir);
  fs.writeFileSync(path.join(dir, 'adapter_config.json'), JSON.stringify(config, null, 2));
  weights?.(path.join(dir, 'adapter_model.safetensors'));
  return dir;
}

const ramp = (count: number) => Float32Array.from({ length: count }, (_, i) => (i - 5) / 8);

function f32Weights(shape: number[], key = 'prompt_embeddings') {
  return (file: string) => writeSafetensors(file, { [key]: { shape, data: ramp(shape[0] * shape[1]) } }, { format: 'pt' });
}

/** A safetensors file with one F16 tensor, written by hand: the import must widen it exactly. */
function f16Weights(shape: number[], halves: number[]) {
  return (file: string) => {
    const header = JSON.stringify({ __metadata__: { format: 'pt' }, prompt_embeddings: { dtype: 'F16', shape, data_offsets: [0, halves.length * 2] } });
    const padded = header + ' '.repeat((8 - (header.length % 8)) % 8);
    const buf = Buffer.alloc(8 + padded.length + halves.length * 2);
    buf.writeBigUInt64LE(BigInt(padded.length), 0);
    buf.write(padded, 8, 'utf8');
    halves.forEach((h, i) => buf.writeUInt16LE(h, 8 + padded.length + i * 2));
    fs.writeFileSync(file, buf);
  };
}

test('a PEFT prompt becomes a prompt-tuning adapter holding the same floats', () => {
  const dir = peftFolder(peftConfig(), f32Weights([3, 4]));
  const peft = readPeftPrompt(dir);
  assert.equal(peft.numVirtualTokens, 3);
  assert.equal(peft.tokenDim, 4);
  const adapter = adapterFromPeft(peft, { model: MODEL, modelDir: '/models/tiny-gpt2' });
  const file = path.join(tmp, 'imported.ulpt');
  writeAdapter(file, adapter);
  const back = readAdapter(file);
  assert.equal(back.meta.method, 'prompt-tuning');
  assert.equal(back.meta.rank, 0);
  assert.equal(back.meta.trainable_parameters, 12);
  assert.deepEqual(back.meta.base_model, { model_type: 'gpt2', name: 'tiny-gpt2', fingerprint: MODEL.fingerprint, vocab_size: 100 });
  assert.deepEqual(back.meta.task, { type: 'generation', template: '{input}', input_field: 'input', target_field: 'target' });
  assert.equal(back.meta.training.imported_from, 'peft');
  assert.equal(back.meta.training.peft_type, 'PROMPT_TUNING');
  assert.equal(back.meta.training.model, 'tiny-gpt2');
  assert.deepEqual(Buffer.from(back.tensors.prompt!.buffer), Buffer.from(ramp(12).buffer));
  // The inspector shows it: a prompt-tuning adapter with no steps, from PEFT.
  const view = readAdapterView(file);
  assert.ok(view.ok, view.ok ? '' : view.message);
  assert.equal(view.view.method, 'prompt-tuning');
  assert.equal(view.view.steps, null);
  assert.equal(view.view.backend, 'peft');
  assert.equal(view.view.norms?.length, 3);
  assert.ok(view.view.training.some((t) => t.label === 'imported_from' && t.value === 'peft'));
});

test('the task fields given replace the defaults', () => {
  const peft = readPeftPrompt(peftFolder(peftConfig(), f32Weights([3, 4])));
  const { meta } = adapterFromPeft(peft, { model: MODEL, task: { template: 'Q: {question} A:', input_field: 'question', target_field: 'answer' } });
  assert.deepEqual(meta.task, { type: 'generation', template: 'Q: {question} A:', input_field: 'question', target_field: 'answer' });
});

test('seq2seq: of the 2n rows PEFT keeps (num_transformer_submodules 2), the first n are the prompt', () => {
  const dir = peftFolder(peftConfig({ task_type: 'SEQ_2_SEQ_LM', num_transformer_submodules: 2 }), f32Weights([6, 4]));
  assert.deepEqual(readPeftPrompt(dir).prompt, ramp(12));
});

test('an F16 prompt is widened exactly', () => {
  // 1, -2, 0.5, 65504 (the largest half), 2^-24 (the smallest subnormal), -0, 0.333251953125, 3
  const halves = [0x3c00, 0xc000, 0x3800, 0x7bff, 0x0001, 0x8000, 0x3555, 0x4200];
  const dir = peftFolder(peftConfig({ num_virtual_tokens: 2 }), f16Weights([2, 4], halves));
  assert.deepEqual(Array.from(readPeftPrompt(dir).prompt), [1, -2, 0.5, 65504, 2 ** -24, -0, 0.333251953125, 3]);
});

test('other PEFT methods are refused by name', () => {
  for (const type of ['LORA', 'PREFIX_TUNING', 'P_TUNING', 'IA3']) {
    const dir = peftFolder({ peft_type: type, task_type: 'CAUSAL_LM' }, f32Weights([2, 4], 'base_model.model.h.0.attn.lora_A.weight'));
    assert.throws(() => readPeftPrompt(dir), new RegExp(`describes a ${type} adapter; import-peft reads prompt-tuning adapters only \\(peft_type "PROMPT_TUNING"\\)`));
  }
  assert.throws(() => readPeftPrompt(peftFolder({ task_type: 'CAUSAL_LM' })), /describes no peft_type \(undefined\)/);
});

test('pickled weights are refused with the reason and the way out; nothing else is read', () => {
  const dir = peftFolder(peftConfig());
  fs.writeFileSync(path.join(dir, 'adapter_model.bin'), 'not read');
  assert.throws(() => readPeftPrompt(dir), /adapter_model\.bin, a pickle file, which ULPT Studio never loads \(unpickling can run code\)\. Save the adapter again with save_pretrained/);
  assert.throws(() => readPeftPrompt(peftFolder(peftConfig())), /has no adapter_model\.safetensors \(looked for .*adapter_model\.safetensors\)/);
});

test('a folder that is not a PEFT prompt is refused with the file and what was expected', () => {
  assert.throws(() => readPeftPrompt(path.join(tmp, 'nowhere')), /nowhere is not a folder; a PEFT adapter is a folder with adapter_config\.json and adapter_model\.safetensors/);
  const empty = path.join(tmp, `empty-${counter++}`);
  fs.mkdirSync(empty);
  assert.throws(() => readPeftPrompt(empty), /has no adapter_config\.json: it is not a PEFT adapter folder/);
  const broken = peftFolder(peftConfig());
  fs.writeFileSync(path.join(broken, 'adapter_config.json'), '{ "peft_type": ');
  assert.throws(() => readPeftPrompt(broken), /adapter_config\.json is not valid JSON/);
  assert.throws(() => readPeftPrompt(peftFolder(peftConfig({ token_dim: 0 }))), /token_dim must be a positive integer, got 0/);
  assert.throws(() => readPeftPrompt(peftFolder(peftConfig(), f32Weights([3, 4], 'embedding.weight'))), /has no tensor "prompt_embeddings" \(it holds "embedding\.weight"\)/);
  assert.throws(() => readPeftPrompt(peftFolder(peftConfig(), f32Weights([3, 5]))), /has shape \[3, 5\], but .* \(num_virtual_tokens 3, token_dim 4\) needs at least \[3, 4\]/);
  assert.throws(() => readPeftPrompt(peftFolder(peftConfig(), f32Weights([2, 4]))), /has shape \[2, 4\]/);
});

test('a prompt for another width than the model is refused with both numbers', () => {
  const peft = readPeftPrompt(peftFolder(peftConfig(), f32Weights([3, 4])));
  assert.throws(() => adapterFromPeft(peft, { model: { ...MODEL, modelType: 't5', name: 'tiny-t5', hiddenSize: 32 } }), /has token_dim 4, but the t5 model "tiny-t5" has hidden size 32/);
});

test('the base model folder comes from base_model_name_or_path only when it is a model folder here', () => {
  const model = path.join(tmp, `model-${counter++}`);
  fs.mkdirSync(model);
  fs.writeFileSync(path.join(model, 'config.json'), '{}');
  assert.equal(peftBaseModelFolder({ base_model_name_or_path: model }), model);
  assert.equal(peftBaseModelFolder({ base_model_name_or_path: 'openai-community/gpt2' }), null);
  assert.equal(peftBaseModelFolder({ base_model_name_or_path: tmp }), null); // a folder, but not a model's
  assert.equal(peftBaseModelFolder({ base_model_name_or_path: null }), null);
});

// --- the command, as users run it (dist/cli.js) -----------------------------------------------------------------

function ulpt(args: string[], env: NodeJS.ProcessEnv = {}) {
  const r = spawnSync(process.execPath, [path.join(ROOT, 'dist', 'cli.js'), ...args], { cwd: tmp, encoding: 'utf8', env: { ...process.env, ...env } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function forwardLogits(adapter: string): number[] {
  const r = ulpt(['forward', '--model', TINY, '--ids', '5,17,42,8', '--adapter', adapter, '--backend', 'cpu', '--json']);
  assert.equal(r.code, 0, r.stderr);
  return (JSON.parse(r.stdout) as { logits: number[][] }).logits.flat();
}

test('ulpt export-peft then import-peft: the materialised prompt bit for bit, the same model, the same logits', () => {
  const dir = path.join(tmp, 'cli');
  fs.mkdirSync(dir);
  const data = path.join(dir, 'd.jsonl');
  fs.writeFileSync(data, Array.from({ length: 8 }, (_, i) => JSON.stringify({ input: `word ${i} =`, target: ` ${i % 4}` })).join('\n') + '\n');
  const a = path.join(dir, 'a.ulpt');
  const train = ulpt(['train', '--model', TINY, '--train', data, '--steps', '2', '--prompt-length', '4', '--max-length', '16', '--batch-size', '4', '--eval-every', '0', '--backend', 'cpu', '--out', a, '--run-dir', path.join(dir, 'run')]);
  assert.equal(train.code, 0, train.stderr);
  assert.equal(ulpt(['export-peft', a, '--out', path.join(dir, 'peft'), '--base-model', TINY]).code, 0);
  const b = path.join(dir, 'b.ulpt');
  const imp = ulpt(['import-peft', path.join(dir, 'peft'), '--out', b, '--json']); // the model from base_model_name_or_path
  assert.equal(imp.code, 0, imp.stderr);
  assert.deepEqual(JSON.parse(imp.stdout), { adapter: b, model: TINY, num_virtual_tokens: 4, hidden_size: 32, bytes: fs.statSync(b).size });
  const original = readAdapter(a);
  const back = readAdapter(b);
  assert.deepEqual(Buffer.from(back.tensors.prompt!.buffer), Buffer.from(materializePrompt(original).buffer));
  assert.deepEqual(back.meta.base_model, original.meta.base_model);
  assert.match(ulpt(['inspect', b]).stdout, /prompt tuning, 4 virtual tokens, d=32[\s\S]*imported from the PEFT adapter peft/);
  // Not bit for bit: the ULPT adapter forms scale ⊙ (Z·A) + shift with the backend's ops.
  assert.ok(maxAbsDiff(forwardLogits(b), forwardLogits(a)) < 1e-5);
});

test('ulpt import-peft refuses with exit 1 what is not a prompt or a model it cannot find, with exit 2 what the command line must change', () => {
  const lora = peftFolder({ peft_type: 'LORA', base_model_name_or_path: TINY }, f32Weights([2, 32], 'lora_A.weight'));
  const out = path.join(tmp, 'refused.ulpt');
  let r = ulpt(['import-peft', lora, '--out', out]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /describes a LORA adapter/);
  const hub = peftFolder(peftConfig({ token_dim: 32 }), f32Weights([3, 32]));
  // A Hub id as base model is looked up in the Hugging Face cache (offline here, an empty cache: never the network).
  r = ulpt(['import-peft', hub, '--out', out], { HF_HUB_OFFLINE: '1', HF_HUB_CACHE: path.join(tmp, 'empty-hub-cache') });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /openai-community\/gpt2 is not a folder here, so it was taken as a Hugging Face Hub id\. HF_HUB_OFFLINE is set and the model openai-community\/gpt2 is not in the cache/);
  const notes = path.join(tmp, 'notes.txt');
  fs.writeFileSync(notes, 'keep');
  r = ulpt(['import-peft', hub, '--out', notes, '--model', TINY]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--out .*notes\.txt exists and is not a ULPT adapter/);
  assert.equal(fs.readFileSync(notes, 'utf8'), 'keep');
  r = ulpt(['import-peft', hub, '--out', out, '--model', TINY, '--task', 'classification']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /records no label words/);
  assert.ok(!fs.existsSync(out));
  assert.equal(ulpt(['import-peft', hub, '--out', out, '--model', TINY]).code, 0);
});

test('the base model PEFT is told: a Hub snapshot as its repo id, a folder as its path, the adapter\'s Hub record first', () => {
  const noHub = { training: {} };
  const snapshot = path.join(tmp, 'hub', 'models--HuggingFaceTB--SmolLM2-135M', 'snapshots', '0123456789abcdef0123456789abcdef01234567');
  assert.equal(peftBaseModelName(noHub, snapshot), 'HuggingFaceTB/SmolLM2-135M');
  assert.equal(peftBaseModelName(noHub, 'models/gpt2'), path.resolve('models/gpt2'), 'a local folder by its absolute path, never its bare name');
  assert.equal(peftBaseModelName({ training: { hub: { model: { repo: 'openai-community/gpt2' } } } }, '/elsewhere/model'), 'openai-community/gpt2');
  assert.equal(peftBaseModelName(noHub, null), null, 'unknown: the extension asks');
});
