// Memory and speed of real-sized models: a SmolLM-135M-sized Llama, a Qwen2.5-0.5B-sized Qwen2 and a Flan-T5-base-sized T5, with
// random BF16 weights written to a temporary folder in this run (never committed), loaded by the engine and trained
// for a few ULPT steps. Each model runs in a child process of its own, so its peak resident memory is its own.
// Printed per model: parameters, the size of one float32 copy, load time, resident memory after loading and at
// its peak, and the median step time; with --torch, PyTorch (Debian's python3-torch) doing the same step on the
// same folder (test/golden/torch_llama.py, torch_t5.py) as the peer, with its own peak memory.
//
//   node esbuild.mjs --bench && node out/bench_models.js [--models smollm-135m,qwen2.5-0.5b,flan-t5-base] [--backend wasm]
//        [--batch 4] [--seq 64] [--prompt-length 10] [--rank 2] [--steps 3] [--threads 1] [--torch] [--keep DIR] [--profile]
// --profile: one more step under tf.profile; its kernel times by kernel (matrix products by shape), 20 largest.
// --threads N: the step through the trainer's data-parallel runner with N threads (each holds its own copy of the
// model, all in this process's resident memory), as `ulpt train --threads N` runs it.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';

const { values: a } = parseArgs({
  options: {
    models: { type: 'string', default: 'smollm-135m,qwen2.5-0.5b,flan-t5-base' }, backend: { type: 'string', default: 'wasm' },
    batch: { type: 'string', default: '4' }, seq: { type: 'string', default: '64' }, 'prompt-length': { type: 'string', default: '10' },
    rank: { type: 'string', default: '2' }, steps: { type: 'string', default: '3' }, torch: { type: 'boolean', default: false },
    keep: { type: 'string' }, child: { type: 'string' }, json: { type: 'boolean', default: false }, threads: { type: 'string', default: '1' },
    profile: { type: 'boolean', default: false },
  },
});

/** config.json of the real checkpoints (HuggingFaceTB/SmolLM-135M, Qwen/Qwen2.5-0.5B), special ids included. */
const CONFIGS: Record<string, Record<string, unknown>> = {
  'smollm-135m': {
    architectures: ['LlamaForCausalLM'], model_type: 'llama', vocab_size: 49152, hidden_size: 576, intermediate_size: 1536,
    num_hidden_layers: 30, num_attention_heads: 9, num_key_value_heads: 3, rms_norm_eps: 1e-5, rope_theta: 10000.0, rope_scaling: null,
    max_position_embeddings: 2048, tie_word_embeddings: true, hidden_act: 'silu', bos_token_id: 0, eos_token_id: 0, torch_dtype: 'bfloat16',
  },
  'qwen2.5-0.5b': {
    architectures: ['Qwen2ForCausalLM'], model_type: 'qwen2', vocab_size: 151936, hidden_size: 896, intermediate_size: 4864,
    num_hidden_layers: 24, num_attention_heads: 14, num_key_value_heads: 2, rms_norm_eps: 1e-6, rope_theta: 1000000.0,
    max_position_embeddings: 32768, tie_word_embeddings: true, hidden_act: 'silu', sliding_window: 32768, use_sliding_window: false,
    max_window_layers: 21, bos_token_id: 151643, eos_token_id: 151643, torch_dtype: 'bfloat16',
  },
  // google/flan-t5-base's config.json (its special ids are T5's: pad 0 starts the decoder, </s> 1).
  'flan-t5-base': {
    architectures: ['T5ForConditionalGeneration'], model_type: 't5', vocab_size: 32128, d_model: 768, d_kv: 64, d_ff: 2048,
    num_layers: 12, num_decoder_layers: 12, num_heads: 12, relative_attention_num_buckets: 32, relative_attention_max_distance: 128,
    feed_forward_proj: 'gated-gelu', dense_act_fn: 'gelu_new', is_gated_act: true, layer_norm_epsilon: 1e-6, tie_word_embeddings: false,
    is_encoder_decoder: true, n_positions: 512, decoder_start_token_id: 0, pad_token_id: 0, eos_token_id: 1, torch_dtype: 'bfloat16',
  },
};

/** Every tensor of a T5 v1.1 / Flan-T5 checkpoint (gated feed-forward, untied head) with its shape. */
function t5Shapes(c: Record<string, number | boolean | string>): [string, number[]][] {
  const d = c.d_model as number, f = c.d_ff as number, inner = (c.num_heads as number) * (c.d_kv as number);
  const out: [string, number[]][] = [['shared.weight', [c.vocab_size as number, d]], ['lm_head.weight', [c.vocab_size as number, d]]];
  const attn = (p: string) => out.push([p + 'q.weight', [inner, d]], [p + 'k.weight', [inner, d]], [p + 'v.weight', [inner, d]], [p + 'o.weight', [d, inner]]);
  for (const [stack, n] of [['encoder', c.num_layers], ['decoder', c.num_decoder_layers]] as const) {
    out.push([`${stack}.block.0.layer.0.SelfAttention.relative_attention_bias.weight`, [c.relative_attention_num_buckets as number, c.num_heads as number]]);
    out.push([`${stack}.final_layer_norm.weight`, [d]]);
    for (let i = 0; i < (n as number); i++) {
      const p = `${stack}.block.${i}.layer.`;
      attn(p + '0.SelfAttention.');
      out.push([p + '0.layer_norm.weight', [d]]);
      const ff = stack === 'decoder' ? 2 : 1;
      if (stack === 'decoder') (attn(p + '1.EncDecAttention.'), out.push([p + '1.layer_norm.weight', [d]]));
      out.push([`${p}${ff}.DenseReluDense.wi_0.weight`, [f, d]], [`${p}${ff}.DenseReluDense.wi_1.weight`, [f, d]], [`${p}${ff}.DenseReluDense.wo.weight`, [d, f]]);
      out.push([`${p}${ff}.layer_norm.weight`, [d]]);
    }
  }
  return out.sort((x, y) => (x[0] < y[0] ? -1 : 1));
}

/** Every tensor of a Llama-family checkpoint with its shape, in the checkpoint's key names. */
function shapes(c: Record<string, number | boolean | string>): [string, number[]][] {
  if (c.model_type === 't5') return t5Shapes(c);
  const d = c.hidden_size as number, f = c.intermediate_size as number, H = c.num_attention_heads as number, K = c.num_key_value_heads as number;
  const hd = d / H;
  const out: [string, number[]][] = [['model.embed_tokens.weight', [c.vocab_size as number, d]], ['model.norm.weight', [d]]];
  for (let i = 0; i < (c.num_hidden_layers as number); i++) {
    const p = `model.layers.${i}.`;
    out.push([p + 'input_layernorm.weight', [d]], [p + 'post_attention_layernorm.weight', [d]]);
    out.push([p + 'self_attn.q_proj.weight', [H * hd, d]], [p + 'self_attn.k_proj.weight', [K * hd, d]], [p + 'self_attn.v_proj.weight', [K * hd, d]], [p + 'self_attn.o_proj.weight', [d, H * hd]]);
    if (c.model_type === 'qwen2') out.push([p + 'self_attn.q_proj.bias', [H * hd]], [p + 'self_attn.k_proj.bias', [K * hd]], [p + 'self_attn.v_proj.bias', [K * hd]]);
    out.push([p + 'mlp.gate_proj.weight', [f, d]], [p + 'mlp.up_proj.weight', [f, d]], [p + 'mlp.down_proj.weight', [d, f]]);
  }
  return out.sort((x, y) => (x[0] < y[0] ? -1 : 1));
}

/**
 * Writes model.safetensors in BF16, one tensor at a time (the bench's own memory stays small): N(0, 0.02)-like
 * uniform values for matrices, 1 for norm gains, 0 for biases.
 */
function writeRandomCheckpoint(dir: string, config: Record<string, unknown>): number {
  const list = shapes(config as Record<string, number>);
  const header: Record<string, unknown> = { __metadata__: { format: 'pt' } };
  let offset = 0;
  for (const [k, s] of list) {
    const bytes = s.reduce((x, y) => x * y, 1) * 2;
    header[k] = { dtype: 'BF16', shape: s, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = Buffer.from(JSON.stringify(header));
  json = Buffer.concat([json, Buffer.alloc((8 - (json.length % 8)) % 8, 0x20)]);
  const fd = fs.openSync(path.join(dir, 'model.safetensors'), 'w');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  fs.writeSync(fd, len);
  fs.writeSync(fd, json);
  let state = 0x9e3779b9;
  const f32 = new Float32Array(1);
  const u32 = new Uint32Array(f32.buffer);
  let parameters = 0;
  for (const [k, s] of list) {
    const n = s.reduce((x, y) => x * y, 1);
    parameters += n;
    const out = new Uint16Array(n);
    const constant = k.endsWith('norm.weight') ? 1 : k.endsWith('.bias') ? 0 : null;
    for (let i = 0; i < n; i++) {
      if (constant !== null) f32[0] = constant;
      else {
        state ^= state << 13;
        state ^= state >>> 17;
        state ^= state << 5;
        f32[0] = ((state >>> 0) / 4294967296 - 0.5) * 0.07; // uniform, std 0.02
      }
      out[i] = u32[0] >>> 16;
    }
    fs.writeSync(fd, Buffer.from(out.buffer));
  }
  fs.closeSync(fd);
  return parameters;
}

/** A model folder: the config, random weights, and a small real tokenizer (the ids used fit any vocabulary). */
function makeFolder(name: string, root: string): { dir: string; parameters: number } {
  const dir = path.join(root, name);
  fs.mkdirSync(dir, { recursive: true });
  const config = CONFIGS[name];
  const tokenizer = path.resolve(__dirname, '..', 'test', 'fixtures', { qwen2: 'tiny-qwen2', t5: 'tiny-flan-t5' }[config.model_type as string] ?? 'tiny-llama3');
  for (const f of ['tokenizer.json', 'tokenizer_config.json']) fs.copyFileSync(path.join(tokenizer, f), path.join(dir, f));
  // The borrowed tokenizer's special tokens are its own; the configs' ids would point elsewhere in these vocabularies
  // (T5's pad 0 and </s> 1 are every T5 tokenizer's).
  const cfg = config.model_type === 't5' ? config : { ...config, bos_token_id: null, eos_token_id: null };
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(cfg, null, 2));
  return { dir, parameters: writeRandomCheckpoint(dir, config) };
}

interface Result {
  model: string; backend: string; device: string; parameters: number; float32MB: number; loadMs: number;
  rssAfterLoadMB: number; peakRssMB: number; stepMs: number[]; medianStepMs: number; tokensPerStep: number;
  /** Layers a pass leaves plain (not checkpointed), of all. */
  plainLayers: number; layers: number;
  /** --profile: one more step under tf.profile, kernel time by kernel (products by their shapes), largest first. */
  profile?: { kernel: string; ms: number; calls: number }[];
}

const MB = 1024 * 1024;

/** The child: load, train `steps` ULPT steps, report. */
async function child(dir: string): Promise<void> {
  const { initBackend, tf } = await import('../src/backend');
  const { loadModel } = await import('../src/models/loader');
  const { createPrompt } = await import('../src/ulpt/prompt');
  const { collateFor, splitBatch } = await import('../src/train/batch');
  const { passesOf, passPlan } = await import('../src/train/step');
  const { AdamW, ADAMW_DEFAULTS } = await import('../src/train/optimizer');
  const { createStepRunner } = await import('../src/train/parallel');
  const report = await initBackend(a.backend as 'wasm');
  const t0 = performance.now();
  const model = await loadModel(dir);
  const loadMs = performance.now() - t0;
  const rssAfterLoadMB = process.memoryUsage().rss / MB;
  const B = Number(a.batch), S = Number(a.seq), n = Number(a['prompt-length']);
  const prompt = await createPrompt({ method: 'ulpt', length: n, rank: Number(a.rank), hidden: model.info.hiddenSize, seed: 42n, alignment: true }, model.tokenEmbeddings);
  const opt = new AdamW(prompt.variables, ADAMW_DEFAULTS);
  let x = 7;
  const examples = Array.from({ length: B }, () => {
    const ids = Array.from({ length: S }, () => (x = (x * 1103515245 + 12345) % 2147483648) % 300);
    return { inputIds: ids.slice(0, S - 4), targetIds: ids.slice(S - 4) };
  });
  const batch = collateFor(model, examples, n);
  // The trainer's step runner: one thread in this one, or data-parallel threads (their models load here, untimed).
  const runner = await createStepRunner({ threads: Number(a.threads), backend: report.name, model, prompt, seed: 42n });
  // How many layers this thread's passes leave plain (not checkpointed), as the step runner plans them.
  const plan = passPlan(report.name, model, n, runner.threads);
  const shard = runner.threads > 1 ? splitBatch(batch, runner.threads, n)[0] : batch;
  const plainLayers = plan.plainLayers(passesOf(shard, plan, n)[0]);
  const stepMs: number[] = [];
  for (let i = 0; i < Number(a.steps); i++) {
    const s0 = performance.now();
    const { loss: value, grads } = await runner.gradients([batch], batch.targets.length);
    opt.step(grads, 1e-3);
    const loss = (await value.data())[0];
    tf.dispose([value, ...grads.values()]);
    if (!Number.isFinite(loss)) throw new Error(`loss is ${loss}`);
    stepMs.push(performance.now() - s0);
  }
  let profile: Result['profile'];
  if (a.profile) {
    // This thread's kernels only (the other threads' engines are not profiled); times include waiting for them.
    const info = await tf.profile(async () => {
      const { loss: value, grads } = await runner.gradients([batch], batch.targets.length);
      await value.data();
      tf.dispose([value, ...grads.values()]);
    });
    const by = new Map<string, { kernel: string; ms: number; calls: number }>();
    for (const k of info.kernels) {
      const kernel = k.name === 'BatchMatMul' ? `BatchMatMul ${k.inputShapes.map((sh) => `[${sh}]`).join('·')}` : k.name;
      const e = by.get(kernel) ?? { kernel, ms: 0, calls: 0 };
      e.ms += Number(k.kernelTimeMs) || 0;
      e.calls += 1;
      by.set(kernel, e);
    }
    profile = [...by.values()].sort((p, q) => q.ms - p.ms);
  }
  await runner.dispose();
  const sorted = [...stepMs].sort((p, q) => p - q);
  const result: Omit<Result, 'model' | 'float32MB'> = {
    backend: report.name, device: `${report.device}${runner.threads > 1 ? `, ${runner.threads} threads` : ', 1 thread'}`, parameters: model.info.parameters, loadMs, rssAfterLoadMB,
    peakRssMB: process.resourceUsage().maxRSS / 1024, stepMs, medianStepMs: sorted[Math.floor(sorted.length / 2)], tokensPerStep: B * (n + S),
    plainLayers, layers: model.checkpointing?.layers ?? model.info.numLayers, ...(profile ? { profile } : {}),
  };
  console.log(JSON.stringify(result));
}

function torchPeer(dir: string): { peakRssMB: number; medianStepMs: number; loadMs: number } | { skipped: string } {
  const script = path.resolve(__dirname, '..', 'scripts', 'bench_models_torch.py');
  const res = spawnSync('/usr/bin/python3', [script, dir, '--batch', a.batch!, '--seq', a.seq!, '--prompt-length', a['prompt-length']!, '--rank', a.rank!, '--steps', a.steps!],
    // The same number of threads as the engine's run (--threads), so the ratio compares like with like.
    { encoding: 'utf8', env: { ...process.env, OMP_NUM_THREADS: a.threads!, OPENBLAS_NUM_THREADS: a.threads! } });
  if (res.status !== 0) return { skipped: (res.stderr || res.error?.message || 'failed').trim().split('\n').at(-1)! };
  return JSON.parse(res.stdout.trim().split('\n').at(-1)!);
}

async function main(): Promise<void> {
  if (a.child) return child(a.child);
  const root = a.keep ? path.resolve(a.keep) : fs.mkdtempSync(path.join(os.tmpdir(), 'ulpt-bench-models-'));
  const rows: string[] = [];
  const all: unknown[] = [];
  try {
    for (const name of a.models!.split(',')) {
      if (!CONFIGS[name]) throw new Error(`Unknown model "${name}"; known: ${Object.keys(CONFIGS).join(', ')}.`);
      const w0 = performance.now();
      const { dir, parameters } = makeFolder(name, root);
      const writeS = (performance.now() - w0) / 1000;
      const res = spawnSync(process.execPath, [__filename, '--child', dir, '--backend', a.backend!, '--batch', a.batch!, '--seq', a.seq!,
        '--prompt-length', a['prompt-length']!, '--rank', a.rank!, '--steps', a.steps!, '--threads', a.threads!, ...(a.profile ? ['--profile'] : [])], { encoding: 'utf8', maxBuffer: 1 << 24 });
      if (res.status !== 0) {
        const why = res.stderr.trim().split('\n').filter((l) => l.trim()).slice(-3).join(' | ');
        rows.push(`${name.padEnd(14)} FAILED (${(parameters / 1e6).toFixed(1)}M parameters, ${((parameters * 4) / MB).toFixed(0)} MB float32): ${why}`);
        all.push({ model: name, parameters, failed: why });
        if (!a.keep) fs.rmSync(dir, { recursive: true, force: true });
        continue;
      }
      const r = { model: name, float32MB: (parameters * 4) / MB, ...JSON.parse(res.stdout.trim().split('\n').at(-1)!) } as Result;
      const peer = a.torch ? torchPeer(dir) : null;
      all.push({ ...r, checkpointWriteSeconds: writeS, torch: peer });
      rows.push(`${name.padEnd(14)} ${(r.parameters / 1e6).toFixed(1).padStart(7)}M ${r.float32MB.toFixed(0).padStart(8)} MB ${(r.loadMs / 1000).toFixed(1).padStart(7)} s ` +
        `${r.rssAfterLoadMB.toFixed(0).padStart(9)} MB ${r.peakRssMB.toFixed(0).padStart(9)} MB ${(r.peakRssMB / r.float32MB).toFixed(2).padStart(6)}x ` +
        `${`${r.plainLayers}/${r.layers}`.padStart(7)} ${(r.medianStepMs / 1000).toFixed(2).padStart(9)} s  [${r.stepMs.map((s) => (s / 1000).toFixed(2)).join(', ')}]`);
      for (const k of r.profile?.slice(0, 20) ?? []) rows.push(`  ${k.kernel.padEnd(48)} ${k.ms.toFixed(0).padStart(7)} ms ${String(k.calls).padStart(5)} calls`);
      if (peer) rows.push('skipped' in peer ? `  pytorch: skipped (${peer.skipped})` : `  pytorch (same folder, same step, ${a.threads} thread${a.threads === "1" ? "" : "s"}): load ${(peer.loadMs / 1000).toFixed(1)} s, peak ${peer.peakRssMB.toFixed(0)} MB, median step ${(peer.medianStepMs / 1000).toFixed(2)} s`);
      if (!a.keep) fs.rmSync(dir, { recursive: true, force: true });
    }
  } finally {
    if (!a.keep) fs.rmSync(root, { recursive: true, force: true });
  }
  if (a.json) return console.log(JSON.stringify(all));
  const first = all[0] as Result | undefined;
  console.log(`ULPT training step (forward + backward + AdamW) on random-weight checkpoints (BF16 on disk, float32 in memory)`);
  console.log(`batch ${a.batch} × (${a['prompt-length']} virtual + ${a.seq}) tokens, r=${a.rank}, ${a.steps} steps (first included); backend ${first?.backend ?? a.backend}: ${first?.device ?? ''}`);
  console.log(`machine: ${os.cpus()[0]?.model ?? 'unknown CPU'}, ${os.cpus().length} cores, ${(os.totalmem() / 1024 ** 3).toFixed(0)} GB, Node ${process.version}`);
  console.log('model          params  float32 copy    load   RSS loaded  peak RSS  peak/f32   plain  median step  [steps]');
  console.log('(plain: layers a pass runs without gradient checkpointing, as memory allows)');
  for (const r of rows) console.log(r);
}

main().catch((e: unknown) => {
  console.error((e as Error).message ?? e);
  process.exit(1);
});
