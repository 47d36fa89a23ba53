// Writes test/vectors/engine.json from the TypeScript engine: what the PyTorch engine must reproduce exactly
// (SplitMix64 outputs, Z's Gaussian draws, the projection A, the example order for a seed). Both test suites check
// against the file (test/unit/torchEngine.test.ts, python/tests/test_vectors.py); run again only when the format
// changes on purpose:  npx esbuild test/vectors/make-vectors.ts --bundle --platform=node --outfile=/tmp/mv.js && node /tmp/mv.js
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ExampleStream } from '../../src/train/batch';
import { projectionMatrix, SplitMix64 } from '../../src/ulpt/projection';
import { seededNormal } from '../../src/ulpt/prompt';

const hex = (x: bigint) => '0x' + x.toString(16).padStart(16, '0');
const seeds = ['0', '42', '18446744073709551615'];
const vectors = {
  about: 'Written by test/vectors/make-vectors.ts from the TypeScript engine; checked by both engines\' tests. Floats are float32 values written as doubles.',
  splitmix64: seeds.map((seed) => {
    const rng = new SplitMix64(BigInt(seed));
    return { seed, outputs: Array.from({ length: 4 }, () => hex(rng.next())) };
  }),
  seededNormal: seeds.map((seed) => ({ seed, count: 7, std: 1, values: Array.from(seededNormal(BigInt(seed), 7)) }))
    .concat([{ seed: '42', count: 5, std: 0.25, values: Array.from(seededNormal(42n, 5, 0.25)) }]),
  projection: [
    { seed: '42', rank: 2, hidden: 4, values: Array.from(projectionMatrix(42n, 2, 4)) },
    { seed: '18446744073709551615', rank: 3, hidden: 5, values: Array.from(projectionMatrix(BigInt('18446744073709551615'), 3, 5)) },
  ],
  exampleOrder: [
    { seed: '42', count: 10, positions: 30, order: Array.from({ length: 30 }, (_, i) => new ExampleStream(10, 42n).at(i)) },
    { seed: '7', count: 256, positions: 40, order: Array.from({ length: 40 }, (_, i) => new ExampleStream(256, 7n).at(i)) },
  ],
};
fs.writeFileSync(path.join(__dirname.includes('vectors') ? __dirname : path.join(process.cwd(), 'test', 'vectors'), 'engine.json'), JSON.stringify(vectors, null, 1) + '\n');
