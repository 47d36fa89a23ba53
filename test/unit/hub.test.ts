// Models and datasets by Hugging Face Hub id, against a stand-in Hub on 127.0.0.1 (test/hubServer.ts) that serves
// the example model, a sharded fixture and a Parquet dataset made from the example data. Every test has its own
// cache folder; the assertions read the cache on disk, the bytes and requests the server counted, and (where the
// Python side is set up) what huggingface_hub itself finds in that cache.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { parquetWriteFile } from 'hyparquet-writer';
import { downloadModel, resolveDataRef, resolveHubInputs, resolveModelRef, globMatcher, HubError } from '../../src/hub/resolve';
import { resolveConfig } from '../../src/config';
import { splitSiblingRef } from '../../src/hub/refs';
import { readRecords } from '../../src/data/readers';
import { configsUsingDataset, hubRunName } from '../../extension/commands/discovery';
import { fillTemplate } from '../../src/data/template';
import { dataDigest } from '../../src/train/inputs';
import { GOOD_TOKEN, NO_ACCESS_TOKEN, StandInHub, gitBlobId, sha256 } from '../hubServer';
import { FIXTURES, ROOT, tempDir } from './helpers';

const MODEL_DIR = path.join(ROOT, 'examples', 'workspace', 'model');
const SHARDED_DIR = path.join(FIXTURES, 'tiny-gpt2-f16-sharded');
const PYTHON = path.join(ROOT, '.venv', 'bin', 'python');
const CLI = path.join(ROOT, 'dist', 'cli.js');

const readDir = (dir: string) => Object.fromEntries(fs.readdirSync(dir).map((f) => [f, new Uint8Array(fs.readFileSync(path.join(dir, f)))]));
const model = readDir(MODEL_DIR);
const v1Config = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(model['config.json']).toString()), _name_or_path: 'tiny/gpt2 v1' }));
const withPickle = { ...model, 'pytorch_model.bin': new Uint8Array(4096).fill(7), 'onnx/model.onnx': new Uint8Array(10) };

let hub: StandInHub;
let trainParquet: Uint8Array;
let trainRecords: Record<string, unknown>[];
/** The training records in two Parquet shards (as the Hub stores a large split), and the split point. */
let shards: Uint8Array[];
let half: number;

before(async () => {
  const dir = tempDir('ulpt-hub-data-');
  trainRecords = fs.readFileSync(path.join(ROOT, 'examples/workspace/data/reverse-train.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  const parquet = (name: string, records: Record<string, unknown>[]) => {
    const file = path.join(dir, name);
    parquetWriteFile({ filename: file, columnData: ['input', 'target'].map((k) => ({ name: k, data: records.map((r) => String(r[k])), type: 'STRING' as const })) });
    return new Uint8Array(fs.readFileSync(file));
  };
  trainParquet = parquet('train.parquet', trainRecords);
  const validation = parquet('validation.parquet', trainRecords.slice(0, 16));
  half = Math.ceil(trainRecords.length / 2);
  shards = [parquet('shard0.parquet', trainRecords.slice(0, half)), parquet('shard1.parquet', trainRecords.slice(half))];
  hub = await new StandInHub([
    { type: 'model', id: 'tiny/gpt2', revisions: { main: withPickle, v1: { ...model, 'config.json': v1Config } } },
    // A copy of the weights outside the index (as Mistral's consolidated.safetensors): never fetched.
    { type: 'model', id: 'tiny/sharded', revisions: { main: { ...readDir(SHARDED_DIR), 'consolidated.safetensors': model['model.safetensors'] } } },
    { type: 'model', id: 'tiny/pickle-only', revisions: { main: { 'config.json': model['config.json'], 'tokenizer.json': model['tokenizer.json'], 'pytorch_model.bin': new Uint8Array(64) } } },
    { type: 'model', id: 'tiny/adapter-only', revisions: { main: { 'config.json': model['config.json'], 'adapter_model.safetensors': model['model.safetensors'] } } },
    { type: 'model', id: 'meta/gated-tiny', gated: true, revisions: { main: model } },
    { type: 'dataset', id: 'tiny/reverse', revisions: { main: { 'README.md': Buffer.from('# reverse\n'), 'data/train-00000-of-00001.parquet': trainParquet, 'data/validation-00000-of-00001.parquet': validation } } },
    // One split in two shards, listed out of order (the Hub's listing order is not the reading order).
    { type: 'dataset', id: 'tiny/shards', revisions: { main: { 'data/train-00001-of-00002.parquet': shards[1], 'README.md': Buffer.from('# shards\n'), 'data/train-00000-of-00002.parquet': shards[0], 'data/validation-00000-of-00001.parquet': validation } } },
  ]).start(600_000);
});
after(() => hub.stop());

/** A fresh cache and home (no token file of the real user), pointed at the stand-in Hub. */
function env(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const home = tempDir('ulpt-hf-home-');
  return { PATH: process.env.PATH, HOME: home, HF_HOME: home, HF_HUB_CACHE: path.join(home, 'hub'), HF_ENDPOINT: hub.endpoint, ...extra };
}

function reset(): void {
  hub.requests.length = 0;
  hub.served.length = 0;
  hub.bytesSent.clear();
  hub.cut = null;
  hub.stall = null;
  hub.corrupt.clear();
  hub.claimedSize.clear();
  hub.delayMs = 0;
  hub.throttle = null;
}

const repoRoot = (e: NodeJS.ProcessEnv, folder: string) => path.join(e.HF_HUB_CACHE!, folder);

async function rejects(p: Promise<unknown>, kind: string, pattern: RegExp): Promise<HubError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof HubError, `expected a HubError, got ${(e as Error).stack}`);
    assert.equal(e.kind, kind, e.message);
    assert.match(e.message, pattern);
    return e;
  }
  assert.fail('expected a rejection');
}

/** Every file under a folder, relative ('/'-separated). */
function tree(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => !e.isDirectory()).map((e) => path.relative(dir, path.join(e.parentPath, e.name)).split(path.sep).join('/')).sort();
}

test('the validation split beside a train split is the same layout with the split renamed', () => {
  assert.equal(splitSiblingRef('hf://datasets/nyu-mll/glue/rte/train-00000-of-00001.parquet', 'validation'), 'hf://datasets/nyu-mll/glue/rte/validation-00000-of-00001.parquet');
  assert.equal(splitSiblingRef('hf://datasets/org/data@v1/data/train-*.parquet', 'validation'), 'hf://datasets/org/data@v1/data/validation-*.parquet');
  assert.equal(splitSiblingRef('hf://datasets/org/train/data/train.parquet', 'validation'), 'hf://datasets/org/train/data/validation.parquet', 'only the file name is renamed');
  assert.equal(splitSiblingRef('hf://datasets/org/data/data/trainer-notes.parquet', 'validation'), undefined, 'a word that only starts with train');
  assert.equal(splitSiblingRef('hf://datasets/org/data/test-*.parquet', 'validation'), undefined);
});

test('a model downloads into the standard cache layout; a second call transfers nothing, a pinned commit asks nothing', async () => {
  reset();
  const e = env();
  const snap = await downloadModel('tiny/gpt2', { env: e });
  const commit = hub.commitOf('model', 'tiny/gpt2');
  const root = repoRoot(e, 'models--tiny--gpt2');
  assert.equal(snap.commit, commit);
  assert.equal(snap.dir, path.join(root, 'snapshots', commit));
  // Only what a model needs: no README, no pickle weights, nothing from sub-folders.
  assert.deepEqual(tree(snap.dir), ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json']);
  for (const f of tree(snap.dir)) {
    const bytes = model[f];
    const etag = f.endsWith('.safetensors') ? sha256(bytes) : gitBlobId(bytes);
    assert.equal(fs.readlinkSync(path.join(snap.dir, f)), `../../blobs/${etag}`, `${f} is a relative link to its blob`);
    assert.deepEqual(new Uint8Array(fs.readFileSync(path.join(snap.dir, f))), bytes, `${f} holds the Hub's bytes`);
  }
  assert.equal(fs.readFileSync(path.join(root, 'refs', 'main'), 'utf8'), commit);
  assert.deepEqual(tree(path.join(root, 'blobs')).filter((f) => f.includes('.')), [], 'no .incomplete or temp file is left');
  assert.equal(snap.received, Object.values(model).reduce((s, b) => s + b.length, 0) - model['README.md'].length);
  assert.deepEqual(hub.transfers().map((t) => t.file).sort(), ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json']);
  assert.ok(hub.requests.filter((r) => r.cdn).length === 1, 'the safetensors file came from the CDN origin');

  hub.requests.length = 0;
  hub.served.length = 0;
  const again = await downloadModel('tiny/gpt2', { env: e });
  assert.equal(again.dir, snap.dir);
  assert.equal(again.received, 0);
  assert.deepEqual(hub.transfers(), [], 'no file is transferred a second time');
  assert.deepEqual(hub.requests.map((r) => r.url), [`/api/models/tiny/gpt2/revision/main`], 'one question: the commit main points to now');

  hub.requests.length = 0;
  const pinned = await resolveModelRef(`tiny/gpt2@${commit}`, { env: e });
  assert.equal(pinned.dir, snap.dir);
  assert.deepEqual(pinned.hub, { ref: `tiny/gpt2@${commit}`, type: 'model', repo: 'tiny/gpt2', revision: commit, commit });
  assert.equal(hub.requests.length, 0, 'a complete pinned snapshot needs no network');
});

test('huggingface_hub finds what was downloaded here, and what it downloaded is reused here without a transfer', { skip: !fs.existsSync(PYTHON) && 'no .venv' }, async () => {
  reset();
  const e = env();
  const snap = await downloadModel('tiny/gpt2', { env: e });
  const found = await run(PYTHON, ['-c', 'import sys; from huggingface_hub import snapshot_download, hf_hub_download\n' +
    'print(snapshot_download("tiny/gpt2", local_files_only=True)); print(hf_hub_download("tiny/gpt2", "model.safetensors", local_files_only=True))'], { ...e, HF_HUB_OFFLINE: '1' });
  assert.equal(found.code, 0, found.stderr);
  assert.deepEqual(found.stdout.trim().split('\n'), [snap.dir, path.join(snap.dir, 'model.safetensors')]);

  // The other way: huggingface_hub downloads the sharded model from the stand-in; resolving it here transfers nothing.
  const e2 = env();
  const py = await run(PYTHON, ['-c', 'from huggingface_hub import snapshot_download\nprint(snapshot_download("tiny/sharded"))'], { ...e2, HF_HUB_DISABLE_XET: '1' });
  assert.equal(py.code, 0, py.stderr);
  reset();
  const ours = await downloadModel('tiny/sharded', { env: e2 });
  assert.equal(ours.dir, py.stdout.trim().split('\n').pop());
  assert.deepEqual(hub.transfers(), []);
});

test('offline (HF_HUB_OFFLINE=1): the cache only, and a clear error when the model is not there', async () => {
  reset();
  const e = env({ HF_HUB_OFFLINE: '1' });
  await rejects(downloadModel('tiny/gpt2', { env: e }), 'offline', /HF_HUB_OFFLINE is set and the model tiny\/gpt2 is not in the cache, or not all of it that was asked for \(looked in .*models--tiny--gpt2\)/);
  await downloadModel('tiny/gpt2@v1', { env: { ...e, HF_HUB_OFFLINE: '' } });
  hub.requests.length = 0;
  const snap = await downloadModel('tiny/gpt2@v1', { env: e });
  assert.equal(snap.commit, hub.commitOf('model', 'tiny/gpt2', 'v1'));
  assert.deepEqual(JSON.parse(fs.readFileSync(path.join(snap.dir, 'config.json'), 'utf8'))._name_or_path, 'tiny/gpt2 v1');
  await rejects(downloadModel('tiny/gpt2', { env: e }), 'offline', /not in the cache/);
  assert.equal(hub.requests.length, 0, 'offline asks nothing');
});

test('a transfer cut mid-file resumes where it stopped (no byte twice), within a call and across calls', async () => {
  reset();
  const size = model['model.safetensors'].length;
  hub.cut = { file: 'model.safetensors', bytes: 600_000, times: 1 };
  const e = env();
  await downloadModel('tiny/gpt2', { env: e });
  assert.equal(hub.bytesSent.get('tiny/gpt2:model.safetensors'), size, 'every byte sent once');
  assert.deepEqual(hub.transfers('model.safetensors').map((t) => t.range), [null, 'bytes=600000-']);

  // The connection keeps dropping at the same byte: the call gives up, keeping the 600 000 bytes; the next resumes.
  reset();
  hub.cut = { file: 'model.safetensors', bytes: 600_000, times: 100 };
  const e2 = env();
  await rejects(downloadModel('tiny/gpt2', { env: e2 }), 'network', /model\.safetensors .* failed 5 times .*resumes there/);
  const blob = path.join(repoRoot(e2, 'models--tiny--gpt2'), 'blobs', sha256(model['model.safetensors']));
  assert.equal(fs.statSync(`${blob}.incomplete`).size, 600_000);
  assert.equal(fs.existsSync(blob), false);
  const snapDir = path.join(repoRoot(e2, 'models--tiny--gpt2'), 'snapshots', hub.commitOf('model', 'tiny/gpt2'));
  assert.deepEqual(tree(snapDir), ['config.json', 'tokenizer.json', 'tokenizer_config.json'], 'no link to a missing blob');
  hub.cut = null;
  hub.served.length = 0;
  const progress: { bytes: number; total: number }[] = [];
  await downloadModel('tiny/gpt2', { env: e2, onProgress: (p) => progress.push({ bytes: p.bytes, total: p.totalBytes }) });
  assert.deepEqual(hub.transfers('model.safetensors').map((t) => t.range), ['bytes=600000-']);
  assert.equal(hub.bytesSent.get('tiny/gpt2:model.safetensors'), size);
  assert.equal(fs.existsSync(`${blob}.incomplete`), false);
  assert.equal(sha256(fs.readFileSync(blob)), sha256(model['model.safetensors']));
  // The weights were the one file left: progress starts from the kept bytes.
  assert.equal(progress[0].total, size);
  assert.ok(progress[0].bytes > 600_000 && progress.at(-1)!.bytes === size, `progress counts the resumed bytes (${progress[0].bytes} … ${progress.at(-1)!.bytes})`);
});

test('a transfer that stalls (no data for HF_HUB_DOWNLOAD_TIMEOUT) is given up and resumed from the bytes it brought', async () => {
  reset();
  hub.stall = { file: 'model.safetensors', bytes: 400_000, times: 1 };
  process.env.HF_HUB_DOWNLOAD_TIMEOUT = '1';
  try {
    const started = Date.now();
    await downloadModel('tiny/gpt2', { env: env() });
    assert.ok(Date.now() - started >= 1000, 'it waited for the timeout');
  } finally {
    delete process.env.HF_HUB_DOWNLOAD_TIMEOUT;
  }
  assert.deepEqual(hub.transfers('model.safetensors').map((t) => t.range), [null, 'bytes=400000-']);
  assert.equal(hub.bytesSent.get('tiny/gpt2:model.safetensors'), model['model.safetensors'].length);
});

test('cancelling through the AbortSignal keeps what arrived; the next call resumes', async () => {
  reset();
  hub.cut = { file: 'model.safetensors', bytes: 300_000, times: 1 };
  hub.delayMs = 50;
  const e = env();
  const abort = new AbortController();
  const p = downloadModel('tiny/gpt2', { env: e, signal: abort.signal, onProgress: (x) => x.file === 'model.safetensors' && x.fileBytes > 0 && abort.abort() });
  await rejects(p, 'cancelled', /cancelled/);
  const blob = path.join(repoRoot(e, 'models--tiny--gpt2'), 'blobs', sha256(model['model.safetensors']));
  const kept = fs.statSync(`${blob}.incomplete`).size;
  assert.ok(kept > 0 && kept < 300_000, `kept ${kept} bytes`);
  assert.deepEqual(fs.readdirSync(path.join(e.HF_HUB_CACHE!, '.locks', 'models--tiny--gpt2')), [], 'the lock is released');
  hub.served.length = 0;
  await downloadModel('tiny/gpt2', { env: e });
  assert.deepEqual(hub.transfers('model.safetensors').map((t) => t.range), [`bytes=${kept}-`]);
  assert.equal(sha256(fs.readFileSync(blob)), sha256(model['model.safetensors']));
});

test('corrupted bytes are refused and nothing is cached (LFS sha256 and git blob id)', async () => {
  for (const file of ['model.safetensors', 'tokenizer.json']) {
    reset();
    hub.corrupt.add(file);
    const e = env();
    const err = await rejects(downloadModel('tiny/gpt2', { env: e }), 'integrity', new RegExp(`${file.replace('.', '\\.')} of tiny/gpt2 arrived damaged: its (sha256|git blob id) is [0-9a-f]+, but the Hub lists`));
    assert.match(err.message, /Nothing of it was kept/);
    const root = repoRoot(e, 'models--tiny--gpt2');
    const etag = file.endsWith('.safetensors') ? sha256(model[file]) : gitBlobId(model[file]);
    assert.ok(!tree(path.join(root, 'blobs')).some((f) => f.startsWith(etag)), `no blob or .incomplete of ${file}`);
    assert.ok(!tree(path.join(root, 'snapshots')).some((f) => f.endsWith(`/${file}`)), `no link to ${file}`);
    hub.corrupt.clear();
    const snap = await downloadModel('tiny/gpt2', { env: e });
    assert.deepEqual(new Uint8Array(fs.readFileSync(path.join(snap.dir, file))), model[file]);
  }
});

test('a gated repo: without a token, with a token without access, with HF_TOKEN and with the login token file', async () => {
  reset();
  await rejects(downloadModel('meta/gated-tiny', { env: env() }), 'gated', new RegExp(`gated: open ${hub.endpoint}/meta/gated-tiny, log in and accept its licence.*set HF_TOKEN`));
  assert.deepEqual(hub.transfers(), [], 'refused before any transfer');
  const noAccess = await rejects(downloadModel('meta/gated-tiny', { env: env({ HF_TOKEN: NO_ACCESS_TOKEN }) }), 'gated', /the token in use has no access to it\. Open .*meta\/gated-tiny, accept its licence/);
  assert.ok(!noAccess.message.includes(NO_ACCESS_TOKEN), 'the token is never in a message');
  reset();
  const ok = await downloadModel('meta/gated-tiny', { env: env({ HF_TOKEN: GOOD_TOKEN }) });
  assert.deepEqual(tree(ok.dir), ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json']);
  assert.ok(hub.requests.filter((r) => !r.cdn).every((r) => r.authorized), 'the token goes to the Hub');
  assert.ok(hub.requests.filter((r) => r.cdn).every((r) => !r.authorized), 'and never to the CDN a large file is redirected to');
  const home = env();
  fs.writeFileSync(path.join(home.HF_HOME!, 'token'), `${GOOD_TOKEN}\n`);
  await downloadModel('meta/gated-tiny', { env: home });
  for (const f of tree(home.HF_HOME!)) assert.ok(f === 'token' || !fs.readFileSync(path.join(home.HF_HOME!, f), 'utf8').includes(GOOD_TOKEN), `${f} holds no token`);
});

test('an unknown repo, an unknown revision, pickle-only weights, too little disk: each said in words, nothing transferred', async () => {
  reset();
  const e = env();
  await rejects(downloadModel('nobody/nothing', { env: e }), 'not-found', new RegExp(`There is no model nobody/nothing on ${hub.endpoint}\\. Check the name; if it is private, set HF_TOKEN`));
  await rejects(downloadModel('tiny/gpt2@no-such-branch', { env: e }), 'revision', /The model tiny\/gpt2 has no revision "no-such-branch"/);
  await rejects(downloadModel('tiny/pickle-only', { env: e }), 'refused', /only as pickle files \(pytorch_model\.bin\), which can run code.*reads only safetensors weights/);
  await rejects(downloadModel('tiny/adapter-only', { env: e }), 'refused', /The model tiny\/adapter-only has neither model\.safetensors nor model\.safetensors\.index\.json/);
  await rejects(resolveModelRef('not a ref', { env: e }), 'not-found', /neither a model folder .* nor a Hugging Face Hub id/);
  hub.claimedSize.set('model.safetensors', 1e18);
  await rejects(downloadModel('tiny/gpt2', { env: e }), 'space', /needs 1000000000\.00 GB but only .* is free on the disk of/);
  assert.deepEqual(hub.transfers(), []);
  const closed = await freePort();
  const refused = await rejects(downloadModel('tiny/gpt2', { env: env({ HF_ENDPOINT: `http://127.0.0.1:${closed}` }) }), 'network', new RegExp(`Cannot reach the Hub at http://127\\.0\\.0\\.1:${closed} \\(connection refused\\)\\. Check the network`));
  assert.equal(refused.message.split('\n').length, 1);
});

test('a tag and a pinned commit resolve to their own snapshots; a tag is recorded in refs/', async () => {
  reset();
  const e = env();
  const v1 = hub.commitOf('model', 'tiny/gpt2', 'v1');
  const tag = await downloadModel('tiny/gpt2@v1', { env: e });
  const pinned = await downloadModel(`tiny/gpt2@${v1}`, { env: e });
  assert.equal(tag.dir, pinned.dir);
  assert.equal(fs.readFileSync(path.join(repoRoot(e, 'models--tiny--gpt2'), 'refs', 'v1'), 'utf8'), v1);
  assert.equal(fs.existsSync(path.join(repoRoot(e, 'models--tiny--gpt2'), 'refs', v1)), false, 'a commit needs no ref');
  const main = await downloadModel('tiny/gpt2', { env: e });
  assert.notEqual(main.dir, tag.dir);
  // Files equal across revisions are stored once.
  assert.equal(fs.realpathSync(path.join(main.dir, 'model.safetensors')), fs.realpathSync(path.join(tag.dir, 'model.safetensors')));
  assert.equal(hub.bytesSent.get('tiny/gpt2:model.safetensors'), model['model.safetensors'].length);
});

test('when the Hub cannot be reached a cached branch is used, with a note; a missing data file is said before any download', async () => {
  reset();
  const e = env();
  const snap = await downloadModel('tiny/gpt2', { env: e });
  const notes: string[] = [];
  const closed = await freePort();
  const again = await downloadModel('tiny/gpt2', { env: { ...e, HF_ENDPOINT: `http://127.0.0.1:${closed}` }, onNote: (m) => notes.push(m) });
  assert.equal(again.dir, snap.dir);
  assert.equal(notes.length, 1);
  assert.match(notes[0], new RegExp(`Cannot reach the Hub .*connection refused.* Using the cached tiny/gpt2@${snap.commit.slice(0, 12)} \\(main\\)`));
  reset();
  const cfg = resolveConfig({ model: 'tiny/sharded', train: 'missing.jsonl' }, tempDir());
  await assert.rejects(resolveHubInputs(cfg, { env: env() }), /missing\.jsonl: the dataset file does not exist/);
  assert.equal(hub.requests.length, 0);
});

test('two downloads of one repo at once do not collide: each blob is transferred once, both get the snapshot', async () => {
  reset();
  hub.delayMs = 150;
  const e = env();
  const [a, b] = await Promise.all([downloadModel('tiny/sharded', { env: e }), downloadModel('tiny/sharded', { env: e })]);
  assert.equal(a.dir, b.dir);
  for (const [f, bytes] of Object.entries(readDir(SHARDED_DIR))) assert.equal(hub.bytesSent.get(`tiny/sharded:${f}`), bytes.length, `${f} sent once`);
  assert.deepEqual(tree(a.dir), tree(SHARDED_DIR), 'the index and the shards it names, not consolidated.safetensors');
  assert.deepEqual(hub.transfers('consolidated.safetensors'), []);
  assert.deepEqual(fs.readdirSync(path.join(e.HF_HUB_CACHE!, '.locks', 'models--tiny--sharded')), []);
});

test('a Parquet dataset by hf:// path (a glob) reads the same records; a glob may match several files', async () => {
  reset();
  const e = env();
  const got = await resolveDataRef('hf://datasets/tiny/reverse/data/train-*.parquet', { env: e });
  const commit = hub.commitOf('dataset', 'tiny/reverse');
  assert.equal(got.file, path.join(repoRoot(e, 'datasets--tiny--reverse'), 'snapshots', commit, 'data', 'train-00000-of-00001.parquet'));
  assert.equal(fs.readlinkSync(got.file), `../../../blobs/${sha256(trainParquet)}`);
  assert.deepEqual(got.hub, { ref: 'hf://datasets/tiny/reverse/data/train-*.parquet', type: 'dataset', repo: 'tiny/reverse', revision: 'main', commit, path: 'data/train-00000-of-00001.parquet' });
  assert.deepEqual((await readRecords(got.file)).map((r) => r.fields), trainRecords);
  assert.deepEqual(hub.transfers().map((t) => t.file), ['data/train-00000-of-00001.parquet'], 'only the matched file');
  const both = await resolveDataRef('hf://datasets/tiny/reverse/data/*.parquet', { env: e });
  assert.deepEqual(both.hub.files, ['data/train-00000-of-00001.parquet', 'data/validation-00000-of-00001.parquet']);
  await rejects(resolveDataRef('hf://datasets/tiny/reverse/data/test-*.parquet', { env: e }), 'not-found', /no file of the dataset matches .* Its data files include: data\/train/);
  hub.requests.length = 0;
  const offline = await resolveDataRef(`hf://datasets/tiny/reverse@${commit}/**/train-*.parquet`, { env: { ...e, HF_HUB_OFFLINE: '1' } });
  assert.equal(offline.file, got.file);
  assert.equal(hub.requests.length, 0);
  assert.ok(globMatcher('**/a?.parquet').test('x/y/ab.parquet') && globMatcher('**/a?.parquet').test('ab.parquet') && !globMatcher('*.parquet').test('x/a.parquet'));
});

test('a glob over shards is one dataset: every shard downloaded first, read in path order, each record naming its shard', async () => {
  reset();
  const e = env();
  const commit = hub.commitOf('dataset', 'tiny/shards');
  const snapDir = path.join(repoRoot(e, 'datasets--tiny--shards'), 'snapshots', commit);
  const names = ['data/train-00000-of-00002.parquet', 'data/train-00001-of-00002.parquet'];
  // The second shard's transfer breaks on every attempt: the first shard is placed, the download fails.
  hub.cut = { file: names[1], bytes: 100, times: 5 };
  await rejects(resolveDataRef('hf://datasets/tiny/shards/data/train-*.parquet', { env: e }), 'network', /transfer of data\/train-00001-of-00002\.parquet from tiny\/shards failed 5 times/);
  assert.deepEqual(tree(snapDir), [names[0]]);
  // The cache must not answer with the one shard it has: the commit's listing names two.
  await rejects(resolveDataRef(`hf://datasets/tiny/shards@${commit}/data/train-*.parquet`, { env: { ...e, HF_HUB_OFFLINE: '1' } }), 'offline', /tiny\/shards@[0-9a-f]{40} is not in the cache, or not all of it/);
  hub.cut = null;
  hub.served.length = 0;
  const got = await resolveDataRef('hf://datasets/tiny/shards/data/train-*.parquet', { env: e });
  assert.deepEqual(hub.transfers(), [{ file: names[1], range: 'bytes=100-' }], 'only the missing shard, resumed where it stopped');
  assert.deepEqual(got.hub, { ref: 'hf://datasets/tiny/shards/data/train-*.parquet', type: 'dataset', repo: 'tiny/shards', revision: 'main', commit, path: 'data/train-*.parquet', files: names });
  assert.equal(got.file, path.join(snapDir, 'data', 'train-*.parquet'), 'the readers take the glob inside the snapshot');
  assert.deepEqual(got.files, names.map((n) => path.join(snapDir, ...n.split('/'))));
  assert.deepEqual(tree(snapDir), names, 'the validation shard and the README are not fetched');

  const records = await readRecords(got.file);
  assert.deepEqual(records.map((r) => r.fields), trainRecords, 'shard 0, then shard 1: the records in their original order');
  assert.deepEqual([records[0].where, records[half].where].map((w) => [path.basename(w.file), w.label]), [['train-00000-of-00002.parquet', 'row 1'], ['train-00001-of-00002.parquet', 'row 1']]);
  assert.throws(() => fillTemplate('{input} {missing}', records[half + 2].fields, records[half + 2].where), /train-00001-of-00002\.parquet row 3: field "missing" is missing/);
  // The run's input digest covers every shard, by name and content in reading order (computed here from the bytes served).
  const want = createHash('sha256').update(names.map((n, i) => `${path.basename(n)}\tsha256:${sha256(shards[i])}\n`).join('')).digest('hex');
  assert.equal(dataDigest(got.file), `files-sha256:${want}`);

  // Complete now: offline, a pinned commit is answered from the cache without a request.
  hub.requests.length = 0;
  const offline = await resolveDataRef(`hf://datasets/tiny/shards@${commit}/data/train-*.parquet`, { env: { ...e, HF_HUB_OFFLINE: '1' } });
  assert.deepEqual(offline.files, got.files);
  assert.equal(hub.requests.length, 0);

  // A run's stored config whose shard was removed from the cache fetches it again, at the same commit.
  const dir = tempDir();
  const resolved = await resolveHubInputs(resolveConfig({ model: 'tiny/gpt2', train: 'hf://datasets/tiny/shards/data/train-*.parquet' }, dir), { env: e });
  assert.equal(resolved.train, got.file);
  assert.deepEqual(resolved.hub?.train?.files, names);
  fs.rmSync(path.join(snapDir, ...names[1].split('/')));
  hub.served.length = 0;
  const again = await resolveHubInputs(resolveConfig(JSON.parse(JSON.stringify(resolved)), dir), { env: e });
  assert.equal(again.train, got.file);
  assert.deepEqual(tree(snapDir), names);
  assert.deepEqual(hub.transfers(), [], 'the blob was still there: only the link was made again');
});

test('a config keeps Hub references as written; resolveHubInputs makes them cache paths and records the commits', async () => {
  reset();
  const dir = tempDir();
  fs.mkdirSync(path.join(dir, 'local-model'));
  const cfg = resolveConfig({ model: 'tiny/gpt2', train: 'hf://datasets/tiny/reverse/data/train-*.parquet', validation: 'hf://datasets/tiny/reverse/data/validation-*.parquet' }, dir);
  assert.equal(cfg.model, 'tiny/gpt2');
  assert.equal(cfg.train, 'hf://datasets/tiny/reverse/data/train-*.parquet');
  assert.equal(cfg.out, path.join(dir, 'adapters', 'train-.ulpt'));
  assert.equal(resolveConfig({ model: 'local-model', train: 'a.jsonl' }, dir).model, path.join(dir, 'local-model'), 'an existing folder wins');
  const e = env();
  const resolved = await resolveHubInputs(cfg, { env: e });
  const commit = hub.commitOf('model', 'tiny/gpt2');
  assert.equal(resolved.model, path.join(repoRoot(e, 'models--tiny--gpt2'), 'snapshots', commit));
  assert.equal(resolved.hub?.model?.commit, commit);
  assert.equal(resolved.hub?.train?.path, 'data/train-00000-of-00001.parquet');
  assert.equal(resolved.hub?.validation?.path, 'data/validation-00000-of-00001.parquet');
  // The stored config validates against the schema again (as a resume and the PyTorch engine read it).
  const stored = resolveConfig(JSON.parse(JSON.stringify(resolved)), dir);
  assert.deepEqual(stored.hub, resolved.hub);
  // A resume after the cache was cleared fetches the same commit again.
  fs.rmSync(e.HF_HUB_CACHE!, { recursive: true });
  const again = await resolveHubInputs(stored, { env: e });
  assert.equal(again.model, resolved.model);
  assert.equal(again.train, resolved.train);
  assert.deepEqual(again.hub, resolved.hub);
});

test('ulpt train --model ORG/NAME --train hf://… end to end; ulpt download and ulpt models; two CLI downloads at once', { skip: !fs.existsSync(CLI) && 'dist/cli.js not built (node esbuild.mjs)' }, async () => {
  reset();
  const e = env({ ULPT_PROGRESS_SECONDS: '1' });
  const dir = tempDir();
  hub.delayMs = 100;
  const [d1, d2] = await Promise.all([run(process.execPath, [CLI, 'download', 'tiny/gpt2', '--json'], e, dir), run(process.execPath, [CLI, 'download', 'tiny/gpt2', '--json'], e, dir)]);
  assert.equal(d1.code, 0, d1.stderr);
  assert.equal(d2.code, 0, d2.stderr);
  const commit = hub.commitOf('model', 'tiny/gpt2');
  assert.equal(JSON.parse(d1.stdout).dir, JSON.parse(d2.stdout).dir);
  assert.equal(JSON.parse(d1.stdout).commit, commit);
  assert.equal(hub.bytesSent.get('tiny/gpt2:model.safetensors'), model['model.safetensors'].length, 'two processes, one transfer');
  assert.match(d1.stderr + d2.stderr, /downloading tiny\/gpt2: .* \/ .*MB/);
  hub.delayMs = 0;

  // The training data in two shards: read as one dataset.
  const r = await run(process.execPath, [CLI, 'train', '--model', 'tiny/gpt2', '--train', 'hf://datasets/tiny/shards/data/train-*.parquet', '--steps', '2', '--prompt-length', '4',
    '--max-length', '24', '--batch-size', '4', '--backend', 'cpu', '--threads', '1', '--eval-every', '0', '--out', path.join(dir, 'a.ulpt'), '--run-dir', path.join(dir, 'run'), '--json'], e, dir);
  assert.equal(r.code, 0, r.stderr);
  const stored = JSON.parse(fs.readFileSync(path.join(dir, 'run', 'config.json'), 'utf8'));
  assert.equal(stored.model, JSON.parse(d1.stdout).dir);
  assert.deepEqual(stored.hub.model, { ref: 'tiny/gpt2', type: 'model', repo: 'tiny/gpt2', revision: 'main', commit });
  assert.equal(stored.hub.train.commit, hub.commitOf('dataset', 'tiny/shards'));
  assert.deepEqual(stored.hub.train.files, ['data/train-00000-of-00002.parquet', 'data/train-00001-of-00002.parquet']);
  const messages = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { type: string; examples?: { train: number } });
  assert.equal(messages.find((m) => m.type === 'started')?.examples?.train, trainRecords.length, 'every record of both shards');
  const finished = messages.at(-1)!;
  assert.equal(finished.type, 'finished');
  const inspect = await run(process.execPath, [CLI, 'inspect', path.join(dir, 'a.ulpt'), '--json'], e, dir);
  assert.equal(JSON.parse(inspect.stdout).training.model, 'tiny/gpt2', 'the adapter names the Hub model, not a commit folder');

  // The trainer process the extension starts resolves a claimed config.json's Hub references and records them.
  const claimed = path.join(dir, 'claimed');
  fs.mkdirSync(claimed);
  const written = { ...resolveConfig({ model: 'tiny/gpt2@v1', train: 'hf://datasets/tiny/reverse/data/train-*.parquet', steps: 1, promptLength: 4, maxLength: 24, batchSize: 4, backend: 'cpu', threads: 1, evalEvery: 0 }, dir), out: path.join(dir, 'b.ulpt') };
  fs.writeFileSync(path.join(claimed, 'config.json'), JSON.stringify(written));
  const trainer = await run(process.execPath, [path.join(ROOT, 'dist', 'trainer.js'), '--run-dir', claimed], e, dir);
  assert.equal(trainer.code, 0, trainer.stderr + fs.readFileSync(path.join(claimed, 'trainer.log'), 'utf8'));
  const rewritten = JSON.parse(fs.readFileSync(path.join(claimed, 'config.json'), 'utf8'));
  assert.equal(rewritten.model, path.join(e.HF_HUB_CACHE!, 'models--tiny--gpt2', 'snapshots', hub.commitOf('model', 'tiny/gpt2', 'v1')));
  assert.equal(rewritten.hub.model.ref, 'tiny/gpt2@v1');
  assert.ok(fs.existsSync(path.join(dir, 'b.ulpt')));

  const models = await run(process.execPath, [CLI, 'models', '--json'], { ...e, HF_HUB_OFFLINE: '1' }, dir);
  assert.equal(models.code, 0, models.stderr);
  const listed = (JSON.parse(models.stdout) as { name: string; source: string; modelType: string; parameters: number; bytes: number; builtin: { ok: boolean }; torch: { ok: boolean | null; note: string } }[]).find((m) => m.name === 'tiny/gpt2');
  assert.ok(listed && listed.source === 'cache' && listed.modelType === 'gpt2' && listed.builtin.ok, JSON.stringify(listed));
  if (fs.existsSync(PYTHON)) assert.match(listed.torch.note, /^yes, on the CPU \(AutoModelForCausalLM → GPT2LMHeadModel/, 'the PyTorch engine (the repo\'s .venv) was asked');
  assert.equal(listed.bytes, Object.entries(model).filter(([f]) => f !== 'README.md').reduce((s, [, b]) => s + b.length, 0));
  assert.ok(listed.parameters > 100_000);

  const offline = await run(process.execPath, [CLI, 'download', 'nobody/nothing'], { ...e, HF_HUB_OFFLINE: '1' }, dir);
  assert.equal(offline.code, 1);
  assert.match(offline.stderr, /^ulpt: HF_HUB_OFFLINE is set and the model nobody\/nothing is not in the cache/);
  assert.ok(!offline.stderr.includes('    at '), 'no stack trace');
});

/** A loopback port nothing listens on (a server's, closed again). */
async function freePort(): Promise<number> {
  const server = http.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

function run(cmd: string, args: string[], e: NodeJS.ProcessEnv, cwd = ROOT): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd, env: e });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 180_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

test('the wizard with a Hub dataset: a run name from the path, and the config files that train on it as written', () => {
  assert.equal(hubRunName('hf://datasets/nyu-mll/glue/rte/train-00000-of-00001.parquet'), 'glue-rte');
  assert.equal(hubRunName('hf://datasets/tiny/shards@v1/data/train-*.parquet'), 'shards');
  assert.equal(hubRunName('hf://datasets/org/squad/plain_text/**/train-*.parquet'), 'squad-plain_text');
  const dir = tempDir();
  const files = ['a.ulpt.json', 'b.ulpt.json', 'c.ulpt.json'].map((f) => path.join(dir, f));
  const texts = [{ train: 'hf://datasets/tiny/shards/data/train-*.parquet' }, { train: 'hf://datasets/tiny/shards/data/train-0*.parquet' }, { train: 'data/train.jsonl' }];
  files.forEach((f, i) => fs.writeFileSync(f, JSON.stringify(texts[i])));
  assert.deepEqual(configsUsingDataset(files, 'hf://datasets/tiny/shards/data/train-*.parquet').map((c) => path.basename(c.file)), ['a.ulpt.json']);
  assert.deepEqual(configsUsingDataset(files, path.join(dir, 'data', 'train.jsonl')).map((c) => path.basename(c.file)), ['c.ulpt.json']);
});
