// The adapter inspector's reading of a .ulpt file on the extension host (extension/views/adapterView.ts): what a
// valid adapter shows, and that corrupt, truncated, hostile, foreign and oversized files become a message quickly.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MAX_ADAPTER_BYTES, readAdapterView } from '../../extension/views/adapterView';
import { materializePrompt, writeAdapter, type Adapter, type AdapterMeta } from '../../src/io/adapter';
import { TINY, tempDir } from './helpers';

function meta(over: Partial<AdapterMeta> = {}): AdapterMeta {
  return {
    format: 'ulpt-adapter', version: 1, method: 'ulpt', num_virtual_tokens: 4, rank: 2, hidden_size: 8, alignment: true, seed: '42',
    base_model: { model_type: 'gpt2', name: 'tiny', fingerprint: 'sha256:0123456789abcdef:100x8', vocab_size: 100 },
    task: { type: 'classification', template: '{input} =', input_field: 'text', target_field: 'label', labels: { names: ['a', 'b'], words: [' a', ' b'] } },
    training: { steps_done: 30, backend: 'wasm', lr: 0.03, train: 'train.jsonl' }, metrics: { accuracy: 0.75 }, trainable_parameters: 4 * 2 + 16, created: '2025-01-01T00:00:00.000Z',
    ...over,
  };
}

function ulpt(): Adapter {
  return {
    meta: meta(),
    tensors: {
      z: Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8]),
      scale: Float32Array.from({ length: 8 }, (_, i) => 1 + i / 10),
      shift: Float32Array.from({ length: 8 }, (_, i) => -i / 10),
    },
  };
}

/** Reads, checks it was refused, and that the refusal took well under a second. */
function refused(file: string, pattern: RegExp): string {
  const t0 = Date.now();
  const r = readAdapterView(file);
  const ms = Date.now() - t0;
  assert.equal(r.ok, false, `${path.basename(file)} should be refused`);
  const message = (r as { message: string }).message;
  assert.match(message, pattern);
  assert.ok(ms < 1000, `refused in ${ms} ms`);
  return message;
}

test('a ULPT adapter: parameter line, Z as points, token norms, scale and shift, provenance', () => {
  const dir = tempDir('ulpt-inspect-');
  const file = path.join(dir, 'a.ulpt');
  const adapter = ulpt();
  writeAdapter(file, adapter);
  const r = readAdapterView(file);
  assert.ok(r.ok);
  const v = r.view;
  assert.equal(v.parameters.text, '24 vs 32 (75.0 %)');
  assert.equal(v.bytes, fs.statSync(file).size);
  assert.deepEqual(v.scatter?.points, [[1, 2], [3, 4], [5, 6], [7, 8]]);
  const p = materializePrompt(adapter);
  const expected = Array.from({ length: 4 }, (_, i) => Math.hypot(...p.subarray(i * 8, i * 8 + 8)));
  v.norms!.forEach((x, i) => assert.ok(Math.abs(x - expected[i]) < 1e-12, `norm ${i}: ${x} vs ${expected[i]}`));
  assert.equal(v.norms!.length, 4);
  assert.deepEqual(v.scale?.min.map((x) => Number(x.toFixed(5))), [1, 1.1, 1.2, 1.3, 1.4, 1.5, 1.6, 1.7]);
  assert.equal(v.shift?.length, 8);
  assert.equal(v.steps, 30);
  assert.equal(v.backend, 'wasm');
  assert.deepEqual(v.task.labels, [{ name: 'a', word: ' a' }, { name: 'b', word: ' b' }]);
  assert.ok(v.training.some((t) => t.label === 'lr' && t.value === '0.03'));
  assert.equal(v.base.fingerprint, 'sha256:0123456789abcdef:100x8');
});

test('a vanilla prompt-tuning adapter is drawn through the PCA of its prompt', () => {
  const dir = tempDir('ulpt-inspect-');
  const file = path.join(dir, 'pt.ulpt');
  const prompt = Float32Array.from({ length: 5 * 8 }, (_, i) => Math.sin(i * 1.7));
  writeAdapter(file, { meta: meta({ method: 'prompt-tuning', rank: 0, num_virtual_tokens: 5, trainable_parameters: 40 }), tensors: { prompt } });
  const r = readAdapterView(file);
  assert.ok(r.ok);
  assert.equal(r.view.scatter?.source, 'prompt-pca');
  assert.equal(r.view.scatter?.points.length, 5);
  assert.equal(r.view.parameters.text, '40 vs 40 (100 %)');
  assert.equal(r.view.scale, null);
});

test('corrupt, truncated, hostile and foreign files become a message that names the file', () => {
  const dir = tempDir('ulpt-inspect-');
  const good = path.join(dir, 'good.ulpt');
  writeAdapter(good, ulpt());
  const bytes = fs.readFileSync(good);
  const write = (name: string, data: Uint8Array | string) => {
    const f = path.join(dir, name);
    fs.writeFileSync(f, data);
    return f;
  };
  const truncated = refused(write('truncated.ulpt', bytes.subarray(0, bytes.length - 10)), /truncated\.ulpt/);
  assert.match(truncated, /bytes|truncated/);
  refused(write('half-header.ulpt', bytes.subarray(0, 40)), /not a valid safetensors file/);
  refused(write('empty.ulpt', ''), /shorter than the 8-byte header length/);
  refused(write('noise.ulpt', Uint8Array.from({ length: 4096 }, (_, i) => (i * 7919) % 251)), /not a valid safetensors file/);
  // A header that claims 2^62 bytes: refused before anything that size is allocated.
  const huge = Buffer.alloc(16);
  huge.writeBigUInt64LE(1n << 62n, 0);
  refused(write('hostile-length.ulpt', huge), /exceeds/);
  // A well-formed file whose metadata claims 65,536 tokens of width 65,536 with a tiny tensor.
  const claim = JSON.stringify({ __metadata__: { ulpt: JSON.stringify({ ...meta(), num_virtual_tokens: 65536, hidden_size: 65536, rank: 2, trainable_parameters: 65536 * 2 + 2 * 65536 }) }, 'ulpt.z': { dtype: 'F32', shape: [2, 2], data_offsets: [0, 16] } });
  const header = Buffer.from(claim);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(header.length), 0);
  refused(write('hostile-shape.ulpt', Buffer.concat([len, header, Buffer.alloc(16)])), /shape \[2, 2\]|missing/);
  // Model weights are safetensors too, but not an adapter.
  refused(path.join(TINY, 'model.safetensors'), /no "ulpt" entry.*PEFT or model weights/);
  fs.mkdirSync(path.join(dir, 'folder.ulpt'));
  refused(path.join(dir, 'folder.ulpt'), /is not a file/);
  refused(path.join(dir, 'missing.ulpt'), /cannot be read/);
});

test('a file far larger than any adapter is refused without being read', () => {
  const dir = tempDir('ulpt-inspect-');
  const file = path.join(dir, 'big.ulpt');
  fs.writeFileSync(file, '');
  fs.truncateSync(file, MAX_ADAPTER_BYTES + 1); // sparse: costs no disk
  refused(file, /is 64 MB.*not one\. Nothing of it was read/);
});
