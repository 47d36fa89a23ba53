// The safetensors reader and writer: round trips, half-precision decoding, the reference library's layout, and
// hostile headers refused with a reason before anything big is allocated.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseHeader, SafetensorsError, SafetensorsFile, serializeSafetensors, toFloat32, writeSafetensors } from '../../src/io/safetensors';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ulpt-safetensors-'));
test.after(() => fs.rmSync(tmp, { recursive: true, force: true }));
let counter = 0;
function tmpFile(bytes: Uint8Array): string {
  const f = path.join(tmp, `t${counter++}.safetensors`);
  fs.writeFileSync(f, bytes);
  return f;
}

/** A file in the reference layout: u64 LE header length, JSON header padded with spaces to 8 bytes, data. */
function build(header: unknown, data: Uint8Array = new Uint8Array(0), pad = true): Uint8Array {
  let json = Buffer.from(typeof header === 'string' ? header : JSON.stringify(header), 'utf8');
  if (pad && json.length % 8) json = Buffer.concat([json, Buffer.alloc(8 - (json.length % 8), 0x20)]);
  const out = Buffer.alloc(8 + json.length + data.length);
  out.writeBigUInt64LE(BigInt(json.length), 0);
  json.copy(out, 8);
  Buffer.from(data).copy(out, 8 + json.length);
  return out;
}

function u16le(values: number[]): Uint8Array {
  const b = Buffer.alloc(values.length * 2);
  values.forEach((v, i) => b.writeUInt16LE(v, i * 2));
  return b;
}

function readAll(file: string): { st: SafetensorsFile; values: Map<string, Float32Array> } {
  const st = SafetensorsFile.open(file);
  try {
    return { st, values: new Map(st.keys().map((k) => [k, st.float32(k)])) };
  } finally {
    st.close();
  }
}

test('F32 tensors and metadata round-trip bit-exactly', () => {
  const a = Float32Array.from([1.5, -2.25, 3e-38, 1e38, -0, Math.fround(Math.PI)]);
  const b = Float32Array.from({ length: 24 }, (_, i) => Math.fround(Math.sin(i) * 1000));
  const c = new Float32Array(0);
  const file = path.join(tmp, 'round.safetensors');
  writeSafetensors(file, { 'x.a': { shape: [2, 3], data: a }, 'y.b': { shape: [2, 3, 4], data: b }, empty: { shape: [0, 5], data: c } }, { format: 'pt', note: 'héllo ✓' });
  const { st, values } = readAll(file);
  assert.deepEqual(st.header.metadata, { format: 'pt', note: 'héllo ✓' });
  assert.deepEqual(st.keys().sort(), ['empty', 'x.a', 'y.b']);
  assert.deepEqual(st.info('y.b').shape, [2, 3, 4]);
  assert.equal(st.info('x.a').dtype, 'F32');
  assert.equal(Buffer.compare(Buffer.from(values.get('x.a')!.buffer), Buffer.from(a.buffer)), 0);
  assert.equal(Buffer.compare(Buffer.from(values.get('y.b')!.buffer), Buffer.from(b.buffer)), 0);
  assert.equal(values.get('empty')!.length, 0);
  // The header is padded to 8 bytes with spaces, as the reference implementation does.
  const bytes = fs.readFileSync(file);
  const n = Number(bytes.readBigUInt64LE(0));
  assert.equal(n % 8, 0);
  assert.match(bytes.subarray(8, 8 + n).toString('utf8'), /^\{.*\} *$/);
});

test('the writer refuses a shape that does not match the data and the reserved name', () => {
  assert.throws(() => serializeSafetensors({ a: { shape: [2, 2], data: new Float32Array(3) } }), /3 values but shape \[2, 2\] needs 4/);
  assert.throws(() => serializeSafetensors({ __metadata__: { shape: [1], data: new Float32Array(1) } }), /__metadata__/);
  assert.throws(() => serializeSafetensors({ a: { shape: [-1], data: new Float32Array(0) } }), /invalid shape/);
});

test('F16 decodes against hand-made bytes, including subnormals and infinities', () => {
  const halves = [0x3c00, 0xc000, 0x7bff, 0x0001, 0x03ff, 0x0000, 0x8000, 0x3555, 0x7c00, 0xfc00, 0x7e00];
  const expected = [1, -2, 65504, 2 ** -24, 1023 * 2 ** -24, 0, -0, 0.333251953125, Infinity, -Infinity, NaN];
  const file = tmpFile(build({ h: { dtype: 'F16', shape: [halves.length], data_offsets: [0, halves.length * 2] } }, u16le(halves)));
  const { values } = readAll(file);
  const got = values.get('h')!;
  expected.forEach((e, i) => assert.ok(Object.is(got[i], e), `0x${halves[i].toString(16)} → ${got[i]}, expected ${e}`));
});

test('BF16 decodes against hand-made bytes', () => {
  const halves = [0x3f80, 0xc000, 0x0000, 0x8000, 0x4049, 0x7f80, 0xff80, 0x0001];
  const expected = [1, -2, 0, -0, 3.140625, Infinity, -Infinity, 2 ** -133];
  const file = tmpFile(build({ b: { dtype: 'BF16', shape: [2, 4], data_offsets: [0, 16] } }, u16le(halves)));
  const { st, values } = readAll(file);
  assert.deepEqual(st.info('b').shape, [2, 4]);
  const got = values.get('b')!;
  expected.forEach((e, i) => assert.ok(Object.is(got[i], e), `0x${halves[i].toString(16)} → ${got[i]}, expected ${e}`));
});

test('F64 decodes and integer tensors are refused as floats with their name', () => {
  const f64 = Buffer.alloc(16);
  f64.writeDoubleLE(0.1, 0);
  f64.writeDoubleLE(-1e300, 8);
  const got = toFloat32(f64, 'F64', 'd');
  assert.equal(got[0], Math.fround(0.1));
  assert.equal(got[1], -Infinity);
  assert.throws(() => toFloat32(new Uint8Array(4), 'I32', 'ids'), /"ids" has dtype I32/);
});

test('a file in the exact layout of the Python safetensors library is read', () => {
  // What safetensors.torch.save_file({"weight": torch.tensor([[1., 2.], [3., 4.]]), "bias": torch.tensor([0.5], dtype=torch.float16)},
  // f, metadata={"format": "pt"}) writes: compact JSON, metadata first, tensors sorted by dtype alignment then name,
  // header padded with spaces to a multiple of 8.
  const header = '{"__metadata__":{"format":"pt"},"weight":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},"bias":{"dtype":"F16","shape":[1],"data_offsets":[16,18]}}';
  const padded = header + ' '.repeat((8 - (header.length % 8)) % 8);
  const data = Buffer.alloc(18);
  [1, 2, 3, 4].forEach((v, i) => data.writeFloatLE(v, i * 4));
  data.writeUInt16LE(0x3800, 16); // 0.5 in half precision
  const bytes = Buffer.concat([Buffer.alloc(8), Buffer.from(padded, 'latin1'), data]);
  bytes.writeBigUInt64LE(BigInt(padded.length), 0);
  assert.equal(padded.length % 8, 0);
  const { st, values } = readAll(tmpFile(bytes));
  assert.deepEqual(st.header.metadata, { format: 'pt' });
  assert.deepEqual([...values.get('weight')!], [1, 2, 3, 4]);
  assert.deepEqual([...values.get('bias')!], [0.5]);
  assert.equal(st.header.dataStart, 8 + padded.length);
});

test('null __metadata__ is accepted as no metadata, like the reference implementation', () => {
  const { st } = readAll(tmpFile(build({ __metadata__: null, a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } }, new Uint8Array(4))));
  assert.deepEqual(st.header.metadata, {});
});

// --- hostile headers --------------------------------------------------------------------------------------------

const ok = { dtype: 'F32', shape: [2], data_offsets: [0, 8] };

function refused(bytes: Uint8Array, reason: RegExp): void {
  // Through the file API …
  const file = tmpFile(bytes);
  assert.throws(
    () => SafetensorsFile.open(file).close(),
    (e: unknown) => {
      assert.ok(e instanceof SafetensorsError, `expected SafetensorsError, got ${e}`);
      assert.equal(e.name, 'SafetensorsError');
      assert.ok(e.message.startsWith(`${file} is not a valid safetensors file: `), e.message);
      assert.match(e.message, reason);
      return true;
    },
  );
  // … and through parseHeader with a spy: nothing outside the file is ever asked for.
  const asked: Array<[number, number]> = [];
  const reader = (start: number, length: number) => {
    asked.push([start, length]);
    assert.ok(start >= 0 && start + length <= bytes.length, `read of ${length} bytes at ${start} outside a ${bytes.length}-byte file`);
    return bytes.subarray(start, start + length);
  };
  assert.throws(() => parseHeader(reader, bytes.length, 'spy'), reason);
  for (const [, length] of asked) assert.ok(length <= bytes.length);
}

function withLength(n: bigint, rest: Uint8Array = new Uint8Array(8)): Uint8Array {
  const b = Buffer.alloc(8 + rest.length);
  b.writeBigUInt64LE(n, 0);
  Buffer.from(rest).copy(b, 8);
  return b;
}

test('refused: a file shorter than 8 bytes', () => {
  refused(new Uint8Array(0), /0 bytes long/);
  refused(new Uint8Array(5), /5 bytes long, shorter than the 8-byte header length/);
});

test('refused: header length beyond the file, without allocating it', () => {
  refused(withLength(1000n, Buffer.from('{}      ')), /claims 1000 bytes but the file has only 8/);
  refused(withLength(50n * 1024n * 1024n, Buffer.from('{}')), /claims 52428800 bytes but the file has only 2/);
});

test('refused: header length 2^63 and 2^64-1', () => {
  refused(withLength(2n ** 63n), /header length 9223372036854775808 exceeds/);
  refused(withLength(2n ** 64n - 1n), /exceeds the \d+-byte limit/);
  refused(withLength(0n), /too small/);
});

test('refused: header not JSON, or JSON that is not an object', () => {
  refused(build('{"a": {"dtype": "F32",'), /not valid JSON/);
  refused(build('not json at all'), /not valid JSON/);
  refused(build([ok]), /not a JSON object/);
  refused(build('"a string"'), /not a JSON object/);
  refused(build('null    '), /not a JSON object/);
  refused(build({ a: [1, 2] }), /tensor "a" is not an object/);
});

test('refused: unknown dtypes, including names of Object.prototype members', () => {
  for (const dtype of ['F8', 'f32', 'toString', 'constructor', '__proto__', 42, null]) {
    refused(build({ a: { ...ok, dtype } }, new Uint8Array(8)), /tensor "a" has unsupported dtype/);
  }
});

test('refused: shapes with negative, fractional or non-numeric entries', () => {
  for (const shape of [[-2], [2.5], ['2'], [1e300], 2, null, [null]]) {
    refused(build({ a: { ...ok, shape } }, new Uint8Array(8)), /tensor "a" has an invalid shape/);
  }
});

test('refused: bad data_offsets', () => {
  refused(build({ a: { ...ok, data_offsets: [0, 16] } }, new Uint8Array(8)), /ends at byte 16 but the data section has only 8 bytes/);
  refused(build({ a: { ...ok, data_offsets: [0, 2 ** 53] } }, new Uint8Array(8)), /invalid data_offsets/);
  refused(build({ a: { ...ok, data_offsets: [8, 0] } }, new Uint8Array(8)), /ends \(0\) before it begins \(8\)/);
  refused(build({ a: { ...ok, data_offsets: [0] } }, new Uint8Array(8)), /invalid data_offsets/);
  refused(build({ a: { ...ok, data_offsets: [-8, 0] } }, new Uint8Array(8)), /invalid data_offsets/);
});

test('refused: offsets that do not match shape × dtype size', () => {
  refused(build({ a: { ...ok, shape: [3] } }, new Uint8Array(12)), /shape \[3\] F32 needs 12 bytes but its offsets span 8/);
  refused(build({ a: { dtype: 'F16', shape: [2, 2], data_offsets: [0, 16] } }, new Uint8Array(16)), /needs 8 bytes but its offsets span 16/);
  // Element count overflow is caught, not turned into a huge allocation.
  refused(build({ a: { dtype: 'F32', shape: [2 ** 30, 2 ** 30, 2 ** 30], data_offsets: [0, 8] } }, new Uint8Array(8)), /too many elements/);
});

test('refused: overlapping tensors', () => {
  refused(build({ a: ok, b: { ...ok, data_offsets: [4, 12] } }, new Uint8Array(16)), /"a" and "b" overlap/);
  refused(build({ a: { ...ok, shape: [4], data_offsets: [0, 16] }, b: { ...ok, data_offsets: [8, 16] } }, new Uint8Array(16)), /overlap/);
});

test('refused: metadata values that are not strings, metadata that is not an object', () => {
  refused(build({ __metadata__: { format: 'pt', steps: 100 }, a: ok }, new Uint8Array(8)), /__metadata__\.steps is not a string/);
  refused(build({ __metadata__: { nested: { x: '1' } } }), /__metadata__\.nested is not a string/);
  refused(build({ __metadata__: ['pt'] }), /__metadata__ is not an object/);
});

test('a tensor read from a file truncated after opening is refused, not returned short', () => {
  const file = path.join(tmp, 'shrink.safetensors');
  writeSafetensors(file, { a: { shape: [4], data: Float32Array.from([1, 2, 3, 4]) } });
  const st = SafetensorsFile.open(file);
  try {
    fs.truncateSync(file, fs.statSync(file).size - 4);
    assert.throws(() => st.float32('a'), /could only read 12 of the 16 bytes of tensor "a"/);
    assert.throws(() => st.info('nope'), /has no tensor "nope"/);
  } finally {
    st.close();
  }
});
