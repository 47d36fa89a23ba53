// The extension's model picker finds the Llama, Mistral, Qwen2 and T5 folders of a Hugging Face cache, leaves out
// architectures the engine cannot load, and reads each family's context length.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { findCachedModels, hasUnsupportedModelType, isModelFolder, modelMaxPositions } from '../../extension/commands/discovery';
import { SUPPORTED_MODEL_TYPES } from '../../src/models/modelTypes';
import { registeredModelTypes } from '../../src/models/registry';
import { embeddingFingerprintOf, loadModel } from '../../src/models/loader';
import { backend, FIXTURES, tempDir } from './helpers';

test('the extension\'s list of supported model types is the registry\'s', () => {
  assert.deepEqual([...SUPPORTED_MODEL_TYPES].sort(), registeredModelTypes().sort());
});

test('a hub cache lists the new families (sharded snapshots too) and leaves out unsupported architectures', () => {
  const cache = tempDir();
  const snapshot = (repo: string, fixture: string | null, config?: Record<string, unknown>) => {
    const dir = path.join(cache, `models--${repo.replace('/', '--')}`, 'snapshots', 'r1');
    fs.mkdirSync(dir, { recursive: true });
    if (fixture) for (const f of fs.readdirSync(path.join(FIXTURES, fixture))) fs.copyFileSync(path.join(FIXTURES, fixture, f), path.join(dir, f));
    else {
      fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(config));
      fs.writeFileSync(path.join(dir, 'model.safetensors'), '');
    }
    return dir;
  };
  snapshot('meta-llama/Llama-3.2-1B', 'tiny-llama3');
  snapshot('mistralai/Mistral-7B-v0.1', 'tiny-mistral');
  snapshot('Qwen/Qwen2.5-0.5B', 'tiny-qwen2');
  snapshot('google/flan-t5-small', 'tiny-flan-t5'); // two shards
  const bert = snapshot('google-bert/bert-base-uncased', null, { model_type: 'bert', max_position_embeddings: 512 });
  const found = findCachedModels(cache).map((m) => m.repo);
  assert.deepEqual(found, ['Qwen/Qwen2.5-0.5B', 'google/flan-t5-small', 'meta-llama/Llama-3.2-1B', 'mistralai/Mistral-7B-v0.1']);
  assert.equal(isModelFolder(bert), true);
  assert.equal(hasUnsupportedModelType(bert), true);
});

test('context lengths: max_position_embeddings for the Llama family, n_positions for T5', () => {
  assert.equal(modelMaxPositions(path.join(FIXTURES, 'tiny-llama3')), 128);
  assert.equal(modelMaxPositions(path.join(FIXTURES, 'tiny-llama2')), 64);
  assert.equal(modelMaxPositions(path.join(FIXTURES, 'tiny-t5')), 512);
});

test('the fingerprint read from the embedding tensor alone (model matching) agrees with loading, for the new families', async () => {
  await backend();
  for (const name of ['tiny-llama3', 'tiny-llama2', 'tiny-mistral', 'tiny-qwen2', 'tiny-t5', 'tiny-flan-t5']) {
    const m = await loadModel(path.join(FIXTURES, name));
    assert.equal(embeddingFingerprintOf(path.join(FIXTURES, name)), m.info.fingerprint, name);
    m.dispose();
  }
});
