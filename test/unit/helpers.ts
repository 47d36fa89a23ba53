// Shared by the unit tests: fixture paths, a started backend, temp folders.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { initBackend, type BackendName, type BackendReport } from '../../src/backend';
import { SafetensorsFile, writeSafetensors, type TensorToWrite } from '../../src/io/safetensors';

/** The repo root, found from the bundled test file's location (out/test/unit) or the source (test/unit). */
export const ROOT = (() => {
  let dir = __dirname;
  while (!fs.existsSync(path.join(dir, 'package.json'))) dir = path.dirname(dir);
  return dir;
})();

export const FIXTURES = path.join(ROOT, 'test', 'fixtures');
export const TINY = path.join(FIXTURES, 'tiny-gpt2');

let started: Promise<BackendReport> | null = null;
/** Tests run on the JS CPU backend unless ULPT_TEST_BACKEND says otherwise (numbers are checked against it). */
export function backend(): Promise<BackendReport> {
  started ??= initBackend((process.env.ULPT_TEST_BACKEND as BackendName) ?? 'cpu');
  return started;
}

export function tempDir(prefix = 'ulpt-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/**
 * A copy of a model folder with its weights (read as float32, sharded or not, written as one F32 file) and config
 * edited: broken or unusual checkpoints for the loader's tests.
 */
export function editedModel(src: string, edit: (w: Record<string, TensorToWrite>) => void, configEdit?: (c: Record<string, unknown>) => void): string {
  const dir = tempDir(`ulpt-${path.basename(src)}-`);
  const weights: Record<string, TensorToWrite> = {};
  for (const f of fs.readdirSync(src)) {
    if (f.endsWith('.safetensors')) {
      const st = SafetensorsFile.open(path.join(src, f));
      for (const k of st.keys()) weights[k] = { shape: st.info(k).shape, data: st.float32(k) };
      st.close();
    } else if (f !== 'model.safetensors.index.json') fs.copyFileSync(path.join(src, f), path.join(dir, f));
  }
  edit(weights);
  writeSafetensors(path.join(dir, 'model.safetensors'), weights);
  if (configEdit) {
    const cfg = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'));
    configEdit(cfg);
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(cfg));
  }
  return dir;
}
