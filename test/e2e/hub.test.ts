// The wizard's model step with the Hugging Face Hub (issue 18), against a stand-in Hub on 127.0.0.1 (the real one is
// not reachable from the test machines): the step lists the catalog of models the engines train, then a Hub id typed
// in is downloaded with a progress notification into the session's Hugging Face cache (HF_HUB_CACHE), in the layout
// transformers uses, and the wizard goes on with it: the template step tokenizes with the downloaded tokenizer.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { StandInHub } from '../hubServer';
import { ROOT, waitFor, withSession, type Session } from './harness';

const MODEL = path.join(ROOT, 'examples', 'workspace', 'model');
const REPO = 'ulpt-test/example-gpt2';

async function title(s: Session): Promise<string> {
  return ((await s.page.locator('.quick-input-widget .quick-input-title').textContent().catch(() => '')) ?? '').trim();
}

test('the wizard lists the model catalog and downloads a Hub model with progress into the Hugging Face cache', { timeout: 300_000 }, async (t) => {
  const files = Object.fromEntries(['config.json', 'tokenizer.json', 'tokenizer_config.json', 'model.safetensors'].map((f) => [f, new Uint8Array(fs.readFileSync(path.join(MODEL, f)))]));
  const hub = await new StandInHub([{ type: 'model', id: REPO, revisions: { main: files } }]).start(280_000);
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
    });
  } finally {
    await hub.stop();
    fs.rmSync(cache, { recursive: true, force: true });
  }
});
