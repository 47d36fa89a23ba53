// The webgpu backend, on SwiftShader (the CPU Vulkan driver Debian's chromium ships) where there is no GPU: the
// fused WGSL kernels against the plain-tfjs compositions on the cpu backend (forward and gradients), GPT-2's
// logits against the PyTorch fixtures, a training step against the cpu backend's, what a step transfers and
// compiles, and the errors when there is no adapter.
//
// tfjs keeps one backend per process and Dawn needs the Vulkan loader at process start (LD_LIBRARY_PATH cannot
// change later), so the webgpu side runs in child processes of this same file (ULPT_WEBGPU_CHILD=<job>) that
// write their numbers to a JSON file; this process computes the cpu references and compares.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { gpuErrors, initBackend, tf, type Scalar, type Tensor } from '../../src/backend';
import { resolveConfig } from '../../src/config';
import { gpuCounters, takeUploadLog } from '../../src/kernels/webgpu/counters';
import { activation, attention, attentionBias, attentionReference, layerNorm, layerNormReference, selfAttentionQKV, targetLogProb } from '../../src/models/layers';
import { fusedKernelsActive } from '../../src/kernels/webgpu';
import { loadModel } from '../../src/models/loader';
import { SafetensorsFile } from '../../src/io/safetensors';
import type { CausalLM } from '../../src/models/types';
import type { TrainerMessage } from '../../src/protocol';
import { collate, type TokenPair } from '../../src/train/batch';
import { batchLoss } from '../../src/train/objective';
import { generate } from '../../src/train/evaluate';
import { AdamW, ADAMW_DEFAULTS, clipByGlobalNorm } from '../../src/train/optimizer';
import { train } from '../../src/train/trainer';
import { SplitMix64 } from '../../src/ulpt/projection';
import { createPrompt, prependPrompt } from '../../src/ulpt/prompt';
import { FIXTURES, TINY, maxAbsDiff, tempDir } from './helpers';

const ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';
const CHROMIUM_LIBS = '/usr/lib/chromium';
const CHILD = process.env.ULPT_WEBGPU_CHILD;
type Arrays = Record<string, number[]>;

// ---- Inputs both sides generate identically ------------------------------------------------------------------

function values(seed: number, count: number, scale = 1): Float32Array {
  const rng = new SplitMix64(BigInt(seed));
  return Float32Array.from({ length: count }, () => (2 * rng.nextUnit() - 1) * scale);
}
const rand = (seed: number, shape: number[], scale = 1) => tf.tensor(values(seed, shape.reduce((a, b) => a * b, 1), scale), shape);

// The fused kernels differentiate every input (lazily); on cpu the layer functions' written-out gradients cover
// the trained path only (x, not γ, β or the bias), so the cpu side of these cases is the plain composition.
const attend = (q: Tensor, k: Tensor, v: Tensor, bias: Tensor, scale: number) =>
  (fusedKernelsActive() ? attention : attentionReference)(q, k, v, bias, scale);
const norm = (x: Tensor, gamma: Tensor, beta: Tensor, eps: number) => (fusedKernelsActive() ? layerNorm : layerNormReference)(x, gamma, beta, eps);

/** Each case computes its outputs and input gradients with the layer functions on the backend in use. */
const KERNEL_CASES: Record<string, () => Record<string, Tensor>> = {
  // Causal + padding mask as GPT-2 builds it; 70 keys = one full tile of 64 and a partial one.
  'attention, causal and padding mask, 70 positions': () => {
    const [B, H, T, hd] = [2, 3, 70, 8];
    const mask = tf.tensor2d([...new Array(2 * T)].map((_, i) => (i >= T + 60 ? 0 : 1)), [B, T]);
    return attentionCase([B, H, T, T, hd], attentionBias(mask, T), false);
  },
  // A head size above the workgroup's 64 threads, and a bias broadcast over the batch (a relative-position bias).
  'attention, head size 80, learned bias broadcast over the batch': () => attentionCase([2, 2, 5, 5, 80], rand(14, [1, 2, 5, 5], 2), true),
  // Fewer queries than keys (generation with a cache): query i sees keys up to i + Tk − Tq.
  'attention, 3 queries over 9 keys': () => {
    const [Tq, Tk] = [3, 9];
    const bias = tf.tensor4d([...new Array(Tq * Tk)].map((_, x) => (x % Tk <= Math.floor(x / Tk) + Tk - Tq ? 0 : -1e9)), [1, 1, Tq, Tk]);
    return attentionCase([2, 2, Tq, Tk, 16], bias, false);
  },
  // GPT-2's layout: q, k, v read out of one [B, T, 3d] projection, heads merged on the way out.
  'attention from a fused QKV projection, causal and padding mask': () => {
    const [B, T, H, hd] = [2, 70, 3, 8];
    const mask = tf.tensor2d([...new Array(B * T)].map((_, i) => (i >= T + 50 ? 0 : 1)), [B, T]);
    return qkvCase([B, T, H, hd], attentionBias(mask, T), false);
  },
  'attention from a fused QKV projection, head size 80, learned bias': () => qkvCase([1, 5, 2, 80], rand(16, [1, 2, 5, 5], 2), true),
  'layer norm, d 50': () => layerNormCase([2, 7, 50]),
  'layer norm, d 130': () => layerNormCase([3, 130]),
  'GELU (tanh), -8…8 and ±30': () => {
    const x = tf.concat([tf.linspace(-8, 8, 997), tf.tensor1d([-30, 30, 0])]);
    const dy = rand(21, [1000]);
    const [dx] = tf.grads((a: Tensor) => tf.sum(tf.mul(activation(a, 'gelu_new'), dy)))([x]);
    return { y: activation(x, 'gelu_new'), dx };
  },
  'target log-probability, V 300': () => targetCase(6, 300),
  'target log-probability, V 1000': () => targetCase(3, 1000),
};

function attentionCase([B, H, Tq, Tk, hd]: number[], bias: Tensor, biasGrad: boolean): Record<string, Tensor> {
  const [q, k, v] = [rand(11, [B, H, Tq, hd]), rand(12, [B, H, Tk, hd]), rand(13, [B, H, Tk, hd])];
  const dy = rand(15, [B, H, Tq, hd]);
  const scale = 1 / Math.sqrt(hd);
  const f = (...x: Tensor[]) => tf.sum(tf.mul(attend(x[0], x[1], x[2], x[3] ?? bias, scale), dy));
  const grads = tf.grads(f)(biasGrad ? [q, k, v, bias] : [q, k, v]);
  return { y: attend(q, k, v, bias, scale), dq: grads[0], dk: grads[1], dv: grads[2], ...(biasGrad ? { dbias: grads[3] } : {}) };
}

function qkvCase([B, T, H, hd]: number[], bias: Tensor, biasGrad: boolean): Record<string, Tensor> {
  const qkv = rand(17, [B, T, 3 * H * hd]);
  const dy = rand(18, [B, T, H * hd]);
  const scale = 1 / Math.sqrt(hd);
  const f = (...x: Tensor[]) => tf.sum(tf.mul(selfAttentionQKV(x[0], x[1] ?? bias, H, scale), dy));
  const grads = tf.grads(f)(biasGrad ? [qkv, bias] : [qkv]);
  return { y: selfAttentionQKV(qkv, bias, H, scale), dqkv: grads[0], ...(biasGrad ? { dbias: grads[1] } : {}) };
}

function layerNormCase(shape: number[]): Record<string, Tensor> {
  const d = shape[shape.length - 1];
  const x = tf.add(rand(31, shape, 3), 0.5);
  const gamma = tf.add(rand(32, [d], 0.5), 1);
  const beta = rand(33, [d], 0.5);
  const dy = rand(34, shape);
  const [dx, dgamma, dbeta] = tf.grads((a: Tensor, g: Tensor, b: Tensor) => tf.sum(tf.mul(norm(a, g, b, 1e-5), dy)))([x, gamma, beta]);
  return { y: norm(x, gamma, beta, 1e-5), dx, dgamma, dbeta };
}

function targetCase(N: number, V: number): Record<string, Tensor> {
  const logits = rand(41, [N, V], 4);
  const targets = tf.tensor1d(Array.from({ length: N }, (_, i) => (i * 97 + 5) % V), 'int32');
  const dy = rand(42, [N]);
  const [dlogits] = tf.grads((l: Tensor) => tf.sum(tf.mul(targetLogProb(l, targets), dy)))([logits]);
  return { y: targetLogProb(logits, targets), dlogits };
}

async function computeKernelCases(): Promise<Record<string, Arrays>> {
  const out: Record<string, Arrays> = {};
  for (const [name, run] of Object.entries(KERNEL_CASES)) {
    const tensors = run();
    out[name] = {};
    for (const [k, t] of Object.entries(tensors)) out[name][k] = Array.from(await t.data());
  }
  return out;
}

/** A fixed batch of the tiny model's tokens with padding (lengths 5…8), two targets each. */
function fixedBatch(): TokenPair[] {
  const rng = new SplitMix64(7n);
  return [5, 8, 6, 7].map((len) => {
    const ids = Array.from({ length: len }, () => Math.floor(rng.nextUnit() * 299));
    return { inputIds: ids.slice(0, len - 2), targetIds: ids.slice(len - 2) };
  });
}

/** Loss and gradients of one ULPT step on the tiny model, then the clipped AdamW update applied. */
async function oneStep(): Promise<Arrays & { readbacksBeforeLoss: number[] }> {
  const model = await loadModel(TINY);
  const prompt = await createPrompt({ method: 'ulpt', length: 4, rank: 2, hidden: 32, seed: 42n, alignment: true }, model.tokenEmbeddings);
  const batch = collate(fixedBatch(), model.tokenizer.padId, 4);
  const before = gpuCounters()?.readbacks ?? 0;
  const vars = [...prompt.variables.values()];
  const { value, grads } = tf.variableGrads(() => batchLoss(model, prompt, batch, batch.targets.length) as Scalar, vars);
  const g = new Map([...prompt.variables].map(([k, v]) => [k, grads[v.name]]));
  const raw = new Map([...g].map(([k, t]) => [k, tf.clone(t)]));
  const norm = clipByGlobalNorm(g, 0.01);
  const opt = new AdamW(prompt.variables, ADAMW_DEFAULTS);
  opt.step(g, 0.1);
  const after = (gpuCounters()?.readbacks ?? 0) - before;
  const out: Arrays = {};
  for (const [k, t] of raw) out[`grad.${k}`] = Array.from(await t.data());
  out.loss = Array.from(await value.data());
  out.norm = Array.from(await norm.data());
  for (const [k, v] of prompt.variables) out[`updated.${k}`] = Array.from(await v.data());
  return { ...out, readbacksBeforeLoss: [after] };
}

// ---- The child: runs one job on webgpu and writes its numbers ---------------------------------------------------

async function child(job: string): Promise<unknown> {
  const nav = { userAgent: 'Node.js/22', hardwareConcurrency: 2 };
  if (job === 'kernels') {
    // Node 21+ defines its own navigator lazily on globalThis; the backend must add gpu to it, not replace it.
    Object.defineProperty(globalThis, 'navigator', { get: () => nav, configurable: true, enumerable: true });
  }
  const report = await initBackend('webgpu');
  const result: Record<string, unknown> = { report };
  if (job === 'kernels') {
    result.cases = await computeKernelCases();
    result.navigator = { same: (globalThis as { navigator?: unknown }).navigator === nav, gpu: 'gpu' in nav, userAgent: nav.userAgent };
  } else if (job === 'golden') {
    result.golden = await goldenLogits();
    result.generated = await greedyTokens();
    result.families = await familyLogits();
  } else if (job === 'step') {
    result.step = await oneStep();
    result.trainer = await trainerSteps();
  }
  result.errors = [...gpuErrors];
  result.pipelines = gpuCounters()?.pipelineKeys ?? [];
  return result;
}

interface Golden {
  variants: Record<string, {
    ids: { input_ids: number[][]; attention_mask: number[][]; logits: number[][][] };
    prompt: { prompt: number[][]; input_ids: number[][]; attention_mask: number[][]; logits: number[][][] };
  }>;
}
const golden = () => JSON.parse(fs.readFileSync(path.join(FIXTURES, 'tiny-gpt2-golden.json'), 'utf8')) as Golden;

/** Logits of every fixture variant for the fixture's padded batch, without and with a prompt: [B·T·V] each. */
async function goldenLogits(): Promise<Arrays> {
  const out: Arrays = {};
  for (const [variant, g] of Object.entries(golden().variants)) {
    const model = (await loadModel(path.join(FIXTURES, variant))) as CausalLM;
    for (const kind of ['ids', 'prompt'] as const) {
      const { input_ids, attention_mask } = g[kind];
      const [B, S] = [input_ids.length, input_ids[0].length];
      const logits = tf.tidy(() => {
        const embeds = model.embed(tf.tensor2d(input_ids, [B, S], 'int32'));
        const mask = tf.tensor2d(attention_mask, [B, S]);
        const joined = kind === 'prompt' ? prependPrompt(tf.tensor2d(g.prompt.prompt), embeds, mask) : { inputs: embeds, mask };
        const hidden = model.hidden(joined.inputs, joined.mask);
        return model.logits(tf.reshape(hidden, [-1, hidden.shape[2] as number]));
      });
      out[`${variant}.${kind}`] = Array.from(await logits.data());
      logits.dispose();
    }
    model.dispose();
  }
  return out;
}

/** Llama-family fixtures with grouped-query attention (2 and 4 query heads per kv head) and rotary positions. */
const FAMILY_FIXTURES = ['tiny-llama3', 'tiny-mistral', 'tiny-qwen2'];
const familyGolden = (name: string) => JSON.parse(fs.readFileSync(path.join(FIXTURES, `${name}-golden.json`), 'utf8')) as { input_ids: number[][]; attention_mask: number[][] };

/** Logits [B·T·V] of each Llama-family fixture for its golden padded batch. */
async function familyLogits(): Promise<Arrays> {
  const out: Arrays = {};
  for (const name of FAMILY_FIXTURES) {
    const { input_ids, attention_mask } = familyGolden(name);
    const model = (await loadModel(path.join(FIXTURES, name))) as CausalLM;
    const [B, S] = [input_ids.length, input_ids[0].length];
    const logits = tf.tidy(() => {
      const hidden = model.hidden(model.embed(tf.tensor2d(input_ids, [B, S], 'int32')), tf.tensor2d(attention_mask, [B, S]));
      return model.logits(tf.reshape(hidden, [B * S, -1]));
    });
    out[name] = Array.from(await logits.data());
    logits.dispose();
    model.dispose();
  }
  return out;
}

/** Greedy continuations with the key/value cache (a batch of uneven inputs, left-padded), with and without a prompt. */
async function greedyTokens(): Promise<number[][][]> {
  const model = await loadModel(TINY);
  const inputs = [[5, 17, 42, 9], [3, 8], [120, 7, 7, 7, 7, 30]];
  const prompt = await createPrompt({ method: 'ulpt', length: 4, rank: 2, hidden: model.info.hiddenSize, seed: 7n, alignment: true }, model.tokenEmbeddings);
  const out = [await generate(model, null, inputs, 12, 8), await generate(model, prompt, inputs, 12, 8)];
  prompt.dispose();
  model.dispose();
  return out;
}

/** The real trainer for 5 steps on same-shaped batches; what each step left behind, at each step message. */
interface StepCounts { tensors: number; readbacks: number; uploads: number; uploadBytes: number; dispatches: number; pipelines: number; weightUploads: number }
async function trainerSteps(): Promise<StepCounts[]> {
  const dir = tempDir();
  const model = await loadModel(TINY);
  // Examples whose tokens all have the same lengths, so every batch has the same shapes.
  const lines = Array.from({ length: 40 }, (_, i) => ({ input: `n${i % 10} ${'abcdefghij'[i % 10]} =`, target: ` ${i % 3}` }))
    .map((r) => ({ r, len: `${model.tokenizer.encode(r.input).length}/${model.tokenizer.encode(r.target).length}` }));
  const common = lines.map((l) => l.len).sort().reduce((best, x, _, all) => (all.filter((y) => y === x).length > all.filter((y) => y === best).length ? x : best));
  const file = path.join(dir, 'same.jsonl');
  fs.writeFileSync(file, lines.filter((l) => l.len === common).map((l) => JSON.stringify(l.r)).join('\n'));
  const cfg = resolveConfig({ model: TINY, train: file, steps: 5, batchSize: 4, promptLength: 4, maxLength: 16, evalEvery: 0, checkpointEvery: 0, out: path.join(dir, 'a.ulpt') }, dir);
  const seen: StepCounts[] = [];
  const weights = new Set([...model.weights.values()].map((t) => t.dataId));
  const onMessage = (m: TrainerMessage) => {
    if (m.type !== 'step') return;
    const c = gpuCounters()!;
    const weightUploads = takeUploadLog().filter((id) => weights.has(id)).length;
    seen.push({ tensors: tf.memory().numTensors, readbacks: c.readbacks, uploads: c.uploads, uploadBytes: c.uploadBytes, dispatches: c.dispatches, pipelines: c.pipelines, weightUploads });
  };
  await train(cfg, { runDir: path.join(dir, 'run'), backend: await initBackend('webgpu'), model, onMessage });
  model.dispose();
  return seen;
}

if (CHILD) {
  child(CHILD).then(
    (result) => {
      fs.writeFileSync(process.env.ULPT_WEBGPU_RESULT!, JSON.stringify(result));
      process.exit(0);
    },
    (e: Error) => {
      console.error(e.stack ?? e.message);
      process.exit(1);
    },
  );
}

// ---- This process: cpu references and the checks -----------------------------------------------------------

/** Whether the system's dynamic linker knows libvulkan.so.1 (else chromium's own copy serves). */
function systemVulkanLoader(): boolean {
  try {
    return fs.readFileSync('/etc/ld.so.cache').includes('libvulkan.so.1');
  } catch {
    return false;
  }
}

function swiftShaderEnv(): NodeJS.ProcessEnv | string {
  if (process.platform !== 'linux' || !fs.existsSync(ICD)) {
    const reason = `SwiftShader is not here (${ICD}: Debian's chromium, installed by scripts/setup-e2e.sh)`;
    // CI installs chromium: there the tests must run, so its absence is a failure, not a skip.
    if (process.env.CI) throw new Error(reason);
    return reason;
  }
  const env: NodeJS.ProcessEnv = { ...process.env, VK_DRIVER_FILES: ICD };
  if (!systemVulkanLoader()) env.LD_LIBRARY_PATH = [CHROMIUM_LIBS, process.env.LD_LIBRARY_PATH].filter(Boolean).join(':');
  return env;
}

interface ChildResult {
  report: { name: string; device: string; adapter: { vendor: string; architecture: string; description: string; software: boolean } };
  errors: string[];
  pipelines: string[];
  cases?: Record<string, Arrays>;
  navigator?: { same: boolean; gpu: boolean; userAgent: string };
  golden?: Arrays;
  families?: Arrays;
  generated?: number[][][];
  step?: Arrays & { readbacksBeforeLoss: number[] };
  trainer?: StepCounts[];
}

const jobs = new Map<string, Promise<ChildResult>>();
function runChild(job: string, env: NodeJS.ProcessEnv): Promise<ChildResult> {
  let p = jobs.get(job);
  if (!p) {
    const out = path.join(tempDir('ulpt-webgpu-'), 'result.json');
    p = new Promise((resolve, reject) => {
      execFile(process.execPath, ['--enable-source-maps', __filename], { env: { ...env, ULPT_WEBGPU_CHILD: job, ULPT_WEBGPU_RESULT: out }, timeout: 600_000, maxBuffer: 1 << 24 }, (err, _stdout, stderr) => {
        if (err) reject(new Error(`the webgpu child "${job}" failed: ${err.message}\n${stderr}`));
        else resolve(JSON.parse(fs.readFileSync(out, 'utf8')) as ChildResult);
      });
    });
    jobs.set(job, p);
  }
  return p;
}

function assertClose(got: ArrayLike<number>, want: ArrayLike<number>, what: string, tol = 1e-4): void {
  let scale = 1;
  for (let i = 0; i < want.length; i++) scale = Math.max(scale, Math.abs(want[i]));
  const diff = maxAbsDiff(got, want);
  assert.ok(diff <= tol * scale, `${what}: max |Δ| = ${diff} (allowed ${tol * scale})`);
}

if (!CHILD) {
  const env = swiftShaderEnv();
  const skip = typeof env === 'string' ? env : false;
  if (skip) console.log(`# webgpu tests skipped: ${skip}`);
  const vk = typeof env === 'string' ? {} : env;

  test('webgpu runs on SwiftShader, and its report names the adapter (software, not a GPU)', { skip }, async () => {
    const r = await runChild('kernels', vk);
    assert.equal(r.report.name, 'webgpu');
    assert.equal(r.report.adapter.architecture, 'swiftshader');
    assert.equal(r.report.adapter.software, true);
    assert.match(r.report.device, /^CPU: SwiftShader.*software WebGPU adapter, not a GPU; vendor google, architecture swiftshader/);
    assert.equal(r.errors.length, 0, `the GPU device reported: ${r.errors[0]}`);
  });

  test('on Node 21+, gpu is added to the runtime\'s own navigator object rather than replacing it', { skip }, async () => {
    const r = await runChild('kernels', vk);
    assert.deepEqual(r.navigator, { same: true, gpu: true, userAgent: 'Node.js/22' });
  });

  for (const name of Object.keys(KERNEL_CASES)) {
    test(`fused kernel on webgpu = plain tfjs on cpu, forward and gradients: ${name}`, { skip }, async () => {
      const r = await runChild('kernels', vk);
      await initBackend('cpu');
      const ref = KERNEL_CASES[name]();
      for (const [k, t] of Object.entries(ref)) assertClose(r.cases![name][k], await t.data(), `${name} ${k}`);
    });
  }

  test('the fused kernels are what ran: each compiled a pipeline of its own', { skip }, async () => {
    const r = await runChild('kernels', vk);
    for (const key of ['ulpt_attention_', 'ulpt_attention_stats_', 'ulpt_attention_dq_', 'ulpt_attention_dk_', 'ulpt_attention_dv_',
      'ulpt_layer_norm_', 'ulpt_layer_norm_grad_', 'ulpt_gelu_', 'ulpt_gelu_grad_', 'ulpt_target_logprob_', 'ulpt_target_logprob_grad_']) {
      assert.ok(r.pipelines.some((p) => p.startsWith(key)), `no pipeline ${key}…`);
    }
  });

  test('GPT-2 (fused kernels) and Llama-family logits on webgpu match the PyTorch fixtures within 1e-4', { skip }, async () => {
    const r = await runChild('golden', vk);
    assert.equal(r.errors.length, 0, `the GPU device reported: ${r.errors[0]}`);
    for (const [variant, g] of Object.entries(golden().variants)) {
      for (const kind of ['ids', 'prompt'] as const) {
        const n = kind === 'prompt' ? g.prompt.prompt.length : 0;
        const masks = g[kind].attention_mask.map((m) => [...new Array(n).fill(1), ...m]);
        const V = g[kind].logits[0][0].length;
        const T = masks[0].length;
        const got = r.golden![`${variant}.${kind}`];
        // Positions the mask covers (padding positions' logits are not defined by either side).
        const pick = (rows: number[][][] | number[]) => masks.flatMap((m, b) => m.flatMap((on, t) => (on ? [[b, t]] : []))).flatMap(([b, t]) =>
          Array.isArray(rows[0]) ? (rows as number[][][])[b][t] : (rows as number[]).slice((b * T + t) * V, (b * T + t + 1) * V));
        const diff = maxAbsDiff(pick(got), pick(g[kind].logits));
        assert.ok(diff < 1e-4, `${variant} ${kind}: max |Δlogit| = ${diff}`);
      }
    }
    // Llama-family models (rotary positions from host-made tables, grouped-query attention) match PyTorch too.
    for (const name of FAMILY_FIXTURES) {
      const { attention_mask: masks } = familyGolden(name);
      const st = SafetensorsFile.open(path.join(FIXTURES, `${name}-golden.safetensors`));
      const [, T, V] = st.info('ids').shape;
      const want = st.float32('ids');
      st.close();
      const rows = (a: ArrayLike<number>) => masks.flatMap((m, b) => m.flatMap((on, t) => (on ? Array.from({ length: V }, (_, v) => a[(b * T + t) * V + v]) : [])));
      const diff = maxAbsDiff(rows(r.families![name]), rows(want));
      assert.ok(diff < 1e-4, `${name} on webgpu: max |Δlogit| = ${diff}`);
    }
    // Cached greedy decoding runs on webgpu (no synchronous reads) and produces the cpu backend's tokens.
    await initBackend('cpu');
    assert.deepEqual(r.generated, await greedyTokens());
  });

  test('one ULPT training step on webgpu: loss, gradients and the clipped AdamW update equal the cpu backend\'s within 1e-4', { skip }, async () => {
    const r = await runChild('step', vk);
    assert.equal(r.errors.length, 0, `the GPU device reported: ${r.errors[0]}`);
    await initBackend('cpu');
    const ref = await oneStep();
    for (const key of Object.keys(ref).filter((k) => k !== 'readbacksBeforeLoss')) assertClose(r.step![key], ref[key], key);
    assert.equal(r.step!.readbacksBeforeLoss[0], 0, 'forward, backward, clipping and the update read nothing back');
  });

  test('a training step on webgpu reads back once (loss and norm), re-uploads no weights, compiles nothing new, leaks no tensors', { skip }, async () => {
    const r = await runChild('step', vk);
    const s = r.trainer!;
    assert.equal(s.length, 5);
    const per = (k: 'readbacks' | 'uploadBytes' | 'dispatches' | 'pipelines') => s.slice(1).map((x, i) => x[k] - s[i][k]);
    assert.deepEqual(per('readbacks'), [1, 1, 1, 1]);
    assert.deepEqual(per('pipelines'), [0, 0, 0, 0], 'pipelines compiled after the first step');
    assert.ok(s.every((x) => x.tensors === s[0].tensors), `tensor count changed: ${s.map((x) => x.tensors).join(', ')}`);
    assert.deepEqual(s.slice(1).map((x) => x.weightUploads), [0, 0, 0, 0], 'weights uploaded again');
    // What a step does upload — the batch's ids and mask, and scalars; tfjs computes tensors this small (the
    // attention mask of a 13-position batch) on the CPU and uploads them — is the same every step.
    const bytes = per('uploadBytes');
    assert.ok(bytes.every((b) => b === bytes[0]) && bytes[0] < 8192, `upload bytes per step: ${bytes.join(', ')}`);
    const dispatches = per('dispatches');
    assert.ok(dispatches.every((d) => d === dispatches[0]), `kernel launches per step: ${dispatches.join(', ')}`);
  });

  test('no adapter: asking for webgpu is a clear error, and auto skips it saying why', { skip }, async () => {
    const saved = { ...process.env };
    try {
      // The adapter search runs in a child process, so this process's environment reaches it.
      Object.assign(process.env, { VK_DRIVER_FILES: '/nonexistent/vk_icd.json', LD_LIBRARY_PATH: [CHROMIUM_LIBS, saved.LD_LIBRARY_PATH].filter(Boolean).join(':') });
      await assert.rejects(initBackend('webgpu'), /^Error: The webgpu backend could not start: no WebGPU adapter: Vulkan found no usable GPU driver \(VK_DRIVER_FILES=\/nonexistent\/vk_icd\.json\)/);
      const auto = await initBackend('auto');
      assert.match(auto.skipped.find((s) => s.name === 'webgpu')!.reason, /no WebGPU adapter/);
      if (!systemVulkanLoader()) {
        process.env.LD_LIBRARY_PATH = saved.LD_LIBRARY_PATH ?? '';
        await assert.rejects(initBackend('webgpu'), /the Vulkan loader libvulkan\.so\.1 is not installed \(Debian\/Ubuntu: apt-get install libvulkan1/);
      }
      // A software adapter is there, but auto does not take it.
      Object.assign(process.env, { VK_DRIVER_FILES: ICD, LD_LIBRARY_PATH: vk.LD_LIBRARY_PATH ?? '' });
      const soft = await initBackend('auto');
      assert.notEqual(soft.name, 'webgpu');
      assert.match(soft.skipped.find((s) => s.name === 'webgpu')!.reason, /only a software adapter \(SwiftShader/);
    } finally {
      for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
      Object.assign(process.env, saved);
    }
  });
}
