// The wizard's model step with the Hugging Face Hub (issue 18), against a stand-in Hub on 127.0.0.1 (the real one is
// not reachable from the test machines): the step lists the catalog of models the engines train, then a Hub id typed
// in is downloaded with a progress notification into the session's Hugging Face cache (HF_HUB_CACHE), in the layout
// transformers uses, and the wizard goes on with it: the template step tokenizes with the downloaded tokenizer.
// Then the dataset step with an hf://datasets/… glob over two Parquet shards (downloaded, read as one dataset, kept
// as written in the saved config), and a model download on a slow link cancelled mid-file from the progress
// notification: no partial file in the snapshot, and the next attempt resumes from the kept bytes (HTTP Range).
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { parquetWriteFile } from 'hyparquet-writer';
import { StandInHub, sha256 } from '../hubServer';
import { ROOT, sleep, waitFor, withSession, type Session } from './harness';

const MODEL = path.join(ROOT, 'examples', 'workspace', 'model');
const REPO = 'ulpt-test/example-gpt2';

async function title(s: Session): Promise<string> {
  return ((await s.page.locator('.quick-input-widget .quick-input-title').textContent().catch(() => '')) ?? '').trim();
}

/** RTE as nyu-mll/glue publishes it in Parquet (sentence1, sentence2, an int64 label: 0 = entailment), made of the
 * example's sentiment sentences: "X" entails "the review is positive" when X is positive. */
function rteShaped(dir: string): Record<string, Uint8Array> {
  const records = fs.readFileSync(path.join(ROOT, 'examples', 'workspace', 'data', 'sentiment-train.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, string>);
  const split = (name: string, part: Record<string, string>[]) => {
    const file = path.join(dir, `${name}.parquet`);
    parquetWriteFile({ filename: file, columnData: [
      { name: 'sentence1', data: part.map((r) => r.input), type: 'STRING' },
      { name: 'sentence2', data: part.map((_, i) => (i % 2 ? 'the review is positive' : 'the review is negative')), type: 'STRING' },
      { name: 'label', data: part.map((r, i) => BigInt((r.label === 'positive') === Boolean(i % 2) ? 0 : 1)), type: 'INT64' },
      { name: 'idx', data: part.map((_, i) => i), type: 'INT32' },
    ] });
    return new Uint8Array(fs.readFileSync(file));
  };
  return { 'rte/train-00000-of-00001.parquet': split('train', records.slice(0, 64)), 'rte/validation-00000-of-00001.parquet': split('validation', records.slice(64, 80)) };
}

test('the wizard lists the model catalog and downloads a Hub model with progress into the Hugging Face cache; a paper task preset trains from the Hub', { timeout: 300_000 }, async (t) => {
  const files = Object.fromEntries(['config.json', 'tokenizer.json', 'tokenizer_config.json', 'model.safetensors'].map((f) => [f, new Uint8Array(fs.readFileSync(path.join(MODEL, f)))]));
  const glue = rteShaped(fs.mkdtempSync(path.join(os.tmpdir(), 'ulpt-rte-')));
  const hub = await new StandInHub([{ type: 'model', id: REPO, revisions: { main: files } }, { type: 'dataset', id: 'nyu-mll/glue', revisions: { main: glue } }]).start(280_000);
  const cache = fs.mkdtempSync(path.join(os.tmpdir(), 'ulpt-hub-cache-'));
  try {
    const session = {
      name: 'hub', settings: { 'ulpt.backend': 'wasm' }, timeoutMs: 240_000, log: (l: string) => t.diagnostic(l),
      env: { HF_ENDPOINT: hub.endpoint, HF_HUB_CACHE: cache, HF_HOME: path.join(cache, 'home') },
    };
    await withSession(session, async (s) => {
      await s.runCommand('ULPT: Train Prompt Adapter…');
      await s.quickPick('sentiment-train.jsonl');
      await waitFor('the config files using the dataset', async () => (await s.quickInputRows()).some((r) => r.includes('ulpt.config.json')), 15_000);
      await s.quickPick('Set up a new run');
      const rows = await waitFor('the model step with the catalog', async () => {
        const r = await s.quickInputRows();
        return r.some((x) => x.includes('HuggingFaceTB/SmolLM2-135M')) ? r : null;
      }, 15_000);
      t.diagnostic(`model step: ${JSON.stringify(rows)}`);
      for (const id of ['openai-community/gpt2', 'google-t5/t5-base', 'Qwen/Qwen2.5-0.5B']) assert.ok(rows.some((r) => r.includes(id)), `${id} is in the catalog`);
      assert.ok(rows.some((r) => /SmolLM2-135M.*135 M parameters.*built-in engine ✓/.test(r)), 'with its size and what trains it here');
      await s.screenshot('wizard-catalog');

      await s.quickPick('Another Hugging Face model id', 'Another Hugging Face');
      const input = s.page.locator('.quick-input-widget .quick-input-box input');
      await input.fill(REPO);
      await input.press('Enter');
      await waitFor('the method step after the download', async () => /\(3\//.test(await title(s)), 60_000);
      const snapshot = path.join(cache, `models--${REPO.replace('/', '--')}`, 'snapshots', hub.commitOf('model', REPO));
      for (const f of Object.keys(files)) {
        assert.deepEqual(new Uint8Array(fs.readFileSync(path.join(snapshot, f))), files[f], `${f} arrived whole, in the cache's snapshot`);
      }
      assert.ok(fs.lstatSync(path.join(snapshot, 'model.safetensors')).isSymbolicLink(), 'a link into blobs/, as huggingface_hub lays it out');
      t.diagnostic(`transfers: ${hub.transfers().length}`);
      await s.screenshot('wizard-after-download');
      await s.page.keyboard.press('Escape');

      // A paper task: the preset names the Hub data and the task; only model, method, steps, name and where are asked.
      await s.runCommand('ULPT: Train Prompt Adapter…');
      await s.quickPick('Start from a paper task preset', 'paper task preset');
      await s.quickPick('glue/rte', 'glue/rte');
      await s.quickPick(REPO, REPO.split('/')[1]);
      await s.quickPick('ULPT, r = 2');
      const box = s.page.locator('.quick-input-widget .quick-input-box input');
      await waitFor('the steps step', async () => /\(7\//.test(await title(s)), 15_000);
      await box.fill('6');
      await box.press('Enter');
      await waitFor('the name step', async () => /\(8\//.test(await title(s)), 15_000);
      assert.equal(await box.inputValue(), 'glue-rte', 'the run is named after the preset');
      await box.press('Enter');
      await s.quickPick('Here, on the built-in engine');
      await s.screenshot('wizard-preset-finish');
      await s.quickPick('and train', 'and train');
      const saved = await waitFor('the saved config', () => fs.readdirSync(s.workspace).find((f) => f.endsWith('.ulpt.json') && f.includes('rte')), 15_000);
      const config = JSON.parse(fs.readFileSync(path.join(s.workspace, saved), 'utf8'));
      t.diagnostic(`saved ${saved}: ${JSON.stringify(config)}`);
      assert.equal(config.preset, 'glue/rte');
      assert.equal(config.model, REPO, 'the Hub model stays a Hub id');
      assert.equal(config.train, undefined, 'the data is the preset\'s');
      const runDir = await waitFor('the preset run to finish', () => {
        const root = path.join(s.workspace, '.ulpt', 'runs');
        const done = fs.existsSync(root) ? fs.readdirSync(root).map((d) => path.join(root, d)).find((d) => fs.existsSync(path.join(d, 'summary.json')) || fs.existsSync(path.join(d, 'failure.json'))) : undefined;
        return done ?? null;
      }, 120_000);
      assert.ok(!fs.existsSync(path.join(runDir, 'failure.json')), fs.existsSync(path.join(runDir, 'failure.json')) ? fs.readFileSync(path.join(runDir, 'failure.json'), 'utf8') : '');
      const summary = JSON.parse(fs.readFileSync(path.join(runDir, 'summary.json'), 'utf8'));
      t.diagnostic(`preset run: ${JSON.stringify({ steps: summary.steps, best: summary.best, metric: summary.metric })}`);
      assert.equal(summary.steps, 6);
      assert.equal(summary.metric, 'accuracy', 'RTE is scored by accuracy');
      const ran = JSON.parse(fs.readFileSync(path.join(runDir, 'config.json'), 'utf8'));
      assert.equal(ran.hub?.train?.repo, 'nyu-mll/glue', 'the training data came from the Hub');
      assert.deepEqual(ran.task.labels, { 0: ' entailment', 1: ' not_entailment' });
      await s.screenshot('wizard-preset-trained');
    });
  } finally {
    await hub.stop();
    fs.rmSync(cache, { recursive: true, force: true });
  }
});

const DATA = 'ulpt-test/reverse-shards';
const DATA_REF = `hf://datasets/${DATA}/data/train-*.parquet`;

/** The example's reverse-train.jsonl as two Parquet shards, as the Hub stores a large split, and its validation file as one. */
function parquetShards(dir: string): { records: Record<string, string>[]; shards: Uint8Array[]; validation: Uint8Array } {
  const read = (name: string) => fs.readFileSync(path.join(ROOT, 'examples', 'workspace', 'data', name), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, string>);
  const parquet = (name: string, part: Record<string, string>[]) => {
    const file = path.join(dir, name);
    parquetWriteFile({ filename: file, columnData: ['input', 'target'].map((k) => ({ name: k, data: part.map((r) => r[k]), type: 'STRING' as const })) });
    return new Uint8Array(fs.readFileSync(file));
  };
  const records = read('reverse-train.jsonl');
  const half = Math.ceil(records.length / 2);
  const shards = [records.slice(0, half), records.slice(half)].map((part, i) => parquet(`shard${i}.parquet`, part));
  return { records, shards, validation: parquet('validation.parquet', read('reverse-validation.jsonl')) };
}

/** Types into the quick input once it shows `placeholder` (the input box has replaced the pick), then Enter. */
async function typeAndEnter(s: Session, value: string, placeholder?: string): Promise<void> {
  const input = s.page.locator('.quick-input-widget .quick-input-box input');
  await input.waitFor({ state: 'visible', timeout: 15_000 });
  if (placeholder) await waitFor(`the input box for ${placeholder}`, async () => ((await input.getAttribute('placeholder')) ?? '').includes(placeholder), 15_000);
  await input.fill(value);
  await input.press('Enter');
}

test('the dataset step takes an hf://datasets glob; a model download cancelled mid-file keeps no partial file and resumes', { timeout: 420_000 }, async (t) => {
  const files = Object.fromEntries(['config.json', 'tokenizer.json', 'tokenizer_config.json', 'model.safetensors'].map((f) => [f, new Uint8Array(fs.readFileSync(path.join(MODEL, f)))]));
  const cache = fs.mkdtempSync(path.join(os.tmpdir(), 'ulpt-hub-cache-'));
  const { shards, validation } = parquetShards(cache);
  const shardNames = ['data/train-00000-of-00002.parquet', 'data/train-00001-of-00002.parquet'];
  const hub = await new StandInHub([
    { type: 'model', id: REPO, revisions: { main: files } },
    { type: 'dataset', id: DATA, revisions: { main: { 'README.md': Buffer.from('# reverse, in two shards\n'), [shardNames[1]]: shards[1], [shardNames[0]]: shards[0], 'data/validation-00000-of-00001.parquet': validation } } },
  ]).start(400_000);
  const weights = `${REPO}:model.safetensors`;
  const size = files['model.safetensors'].length;
  const modelRoot = path.join(cache, `models--${REPO.replace('/', '--')}`);
  const snapshot = path.join(modelRoot, 'snapshots', hub.commitOf('model', REPO));
  const dataSnapshot = path.join(cache, `datasets--${DATA.replace('/', '--')}`, 'snapshots', hub.commitOf('dataset', DATA));
  // Dataset step (a Hub glob, typed in) → no config uses it → model step → a Hub id typed in.
  const startWizard = async (s: Session) => {
    await s.runCommand('ULPT: Train Prompt Adapter…');
    await s.quickPick('A Hugging Face Hub dataset');
    await typeAndEnter(s, DATA_REF, 'hf://datasets/');
    await waitFor('the model step after the dataset download', async () => /\(2\//.test(await title(s)), 60_000);
    await s.quickPick('Another Hugging Face model id', 'Another Hugging Face');
    await typeAndEnter(s, REPO, 'HuggingFaceTB/SmolLM2-135M');
  };
  try {
    const session = {
      name: 'hub-cancel', settings: { 'ulpt.backend': 'wasm' }, timeoutMs: 380_000, log: (l: string) => t.diagnostic(l),
      env: { HF_ENDPOINT: hub.endpoint, HF_HUB_CACHE: cache, HF_HOME: path.join(cache, 'home') },
    };
    await withSession(session, async (s) => {
      // A slow link for the weights: 16 kB every 100 ms, about 11 s for the file.
      hub.throttle = { file: 'model.safetensors', bytesPerTick: 16_384, everyMs: 100 };
      await startWizard(s);
      for (const [i, name] of shardNames.entries()) {
        assert.deepEqual(new Uint8Array(fs.readFileSync(path.join(dataSnapshot, ...name.split('/')))), shards[i], `${name}: both shards of the glob were downloaded`);
      }
      const toast = s.page.locator('.notification-toast', { hasText: `downloading ${REPO}` });
      const shown = await waitFor('the download under way, its progress shown', async () => {
        const text = ((await toast.first().locator('.notification-list-item-message').textContent().catch(() => '')) ?? '').trim();
        return (hub.bytesSent.get(weights) ?? 0) > 150_000 && / of 1\.8 MB/.test(text) ? text : null;
      }, 60_000);
      t.diagnostic(`progress: ${shown}`);
      await s.screenshot('hub-download-progress');
      await toast.first().locator('.monaco-button', { hasText: 'Cancel' }).click({ timeout: 10_000 });
      await waitFor('the cancellation said', async () => (await s.notifications()).some((n) => n.includes(`the download of ${REPO} was cancelled`)), 20_000);
      await s.screenshot('hub-download-cancelled');

      // The cache is consistent: the snapshot has no weights file; the bytes that arrived wait in an .incomplete blob.
      assert.ok(!fs.existsSync(path.join(snapshot, 'model.safetensors')), 'no partial file in the snapshot');
      const partial = path.join(modelRoot, 'blobs', `${sha256(files['model.safetensors'])}.incomplete`);
      assert.deepEqual(fs.readdirSync(path.join(modelRoot, 'blobs')).filter((b) => b.endsWith('.incomplete')), [path.basename(partial)]);
      const kept = fs.statSync(partial).size;
      assert.ok(kept > 0 && kept < size, `kept ${kept} of ${size} bytes`);
      const sentBefore = hub.bytesSent.get(weights)!;
      await sleep(1000);
      assert.equal(hub.bytesSent.get(weights), sentBefore, 'the transfer stopped');
      assert.equal(fs.statSync(partial).size, kept, 'nothing more is written');
      t.diagnostic(`cancelled with ${kept} of ${size} bytes kept (${sentBefore} sent)`);

      // Again: the dataset comes from the cache, the weights resume from the kept bytes at full speed.
      hub.throttle = null;
      hub.served.length = 0;
      await startWizard(s);
      await waitFor('the method step after the resumed download', async () => /\(3\//.test(await title(s)), 60_000);
      assert.deepEqual(hub.transfers(), [{ file: 'model.safetensors', range: `bytes=${kept}-` }], 'one transfer: the rest of the weights; the shards were cached');
      assert.equal(hub.bytesSent.get(weights)! - sentBefore, size - kept, 'only the missing bytes were sent');
      assert.deepEqual(new Uint8Array(fs.readFileSync(path.join(snapshot, 'model.safetensors'))), files['model.safetensors'], 'the resumed file is whole');
      assert.ok(!fs.existsSync(partial), 'the .incomplete file became the blob');

      // On through the wizard: the saved config names the Hub glob as written, in the workspace folder.
      await s.quickPick('ULPT, r = 2');
      await s.quickPick('generation');
      await waitFor('the template preview of a record from the first shard', async () => /→ \d+ tokens/.test(((await s.page.locator('.quick-input-widget .quick-input-message').textContent().catch(() => '')) ?? '')), 30_000);
      await s.page.locator('.quick-input-widget .quick-input-box input').press('Enter');
      await waitFor('the steps step', async () => /\(7\//.test(await title(s)), 15_000);
      await typeAndEnter(s, '5');
      await waitFor('the name step', async () => /\(8\//.test(await title(s)), 15_000);
      const name = await s.page.locator('.quick-input-widget .quick-input-box input').inputValue();
      assert.equal(name, 'reverse-shards', 'named after the Hub dataset');
      await s.page.locator('.quick-input-widget .quick-input-box input').press('Enter');
      await waitFor('the where step', async () => /\(9\//.test(await title(s)), 15_000);
      await s.quickPick('Here, on the built-in engine');
      await s.quickPick('reverse-shards.ulpt.json only');
      const saved = path.join(s.workspace, 'reverse-shards.ulpt.json');
      await waitFor('the config file', () => fs.existsSync(saved), 15_000);
      const config = JSON.parse(fs.readFileSync(saved, 'utf8')) as Record<string, unknown>;
      t.diagnostic(`saved config: ${JSON.stringify(config)}`);
      assert.equal(config.train, DATA_REF, 'the hf:// path, not the cache path');
      assert.equal(config.model, REPO);
      assert.equal(config.validation, DATA_REF.replace('train-*', 'validation-*'), 'the validation split beside the train split, as an hf:// path');
      assert.equal(config.validationSplit, undefined, 'nothing held out of the training data');
      await s.screenshot('hub-dataset-config');
    });
  } finally {
    await hub.stop();
    fs.rmSync(cache, { recursive: true, force: true });
  }
});
