// The safetensors format: u64 little-endian header length N, N bytes of JSON
// { name: { dtype, shape, data_offsets: [begin, end] }, "__metadata__": { string: string } }, then the data.
// The header is checked completely (length, JSON shape, dtypes, shapes, offsets, sizes, overlaps) before any
// tensor is allocated, so a truncated or hostile file is refused with a reason instead of crashing or over-allocating.
import * as fs from 'node:fs';
import { writeFileAtomic } from './atomic';

export type DType = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL';
export const DTYPE_BYTES: Record<DType, number> = { F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1 };

export interface TensorInfo {
  dtype: DType;
  shape: number[];
  /** Byte range inside the data section (after the header). */
  begin: number;
  end: number;
}

export interface SafetensorsHeader {
  tensors: Map<string, TensorInfo>;
  metadata: Record<string, string>;
  /** Absolute byte offset of the data section in the file. */
  dataStart: number;
}

/** Largest header we accept; real checkpoints with thousands of tensors stay far below it. */
export const MAX_HEADER_BYTES = 100 * 1024 * 1024;

export class SafetensorsError extends Error {
  constructor(source: string, reason: string) {
    super(`${source} is not a valid safetensors file: ${reason}.`);
    this.name = 'SafetensorsError';
  }
}

/**
 * Parses and validates a header. `readHeaderBytes(start, length)` returns that byte range of the file; it is only
 * asked for ranges inside `fileSize` (the whole file's size), so a lying length field never causes a big allocation.
 */
export function parseHeader(readHeaderBytes: (start: number, length: number) => Uint8Array, fileSize: number, source: string): SafetensorsHeader {
  const fail = (reason: string): never => {
    throw new SafetensorsError(source, reason);
  };
  if (fileSize < 8) fail(`it is ${fileSize} bytes long, shorter than the 8-byte header length`);
  const lenBytes = readHeaderBytes(0, 8);
  const n = new DataView(lenBytes.buffer, lenBytes.byteOffset, 8).getBigUint64(0, true);
  if (n < 2n) fail(`the header length ${n} is too small for a JSON object`);
  if (n > BigInt(MAX_HEADER_BYTES)) fail(`the header length ${n} exceeds the ${MAX_HEADER_BYTES}-byte limit`);
  const headerLen = Number(n);
  if (8 + headerLen > fileSize) fail(`the header claims ${headerLen} bytes but the file has only ${fileSize - 8} after the length`);
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(readHeaderBytes(8, headerLen)).toString('utf8'));
  } catch (e) {
    fail(`the header is not valid JSON (${(e as Error).message})`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) fail('the header is not a JSON object');
  const dataStart = 8 + headerLen;
  const dataSize = fileSize - dataStart;
  const tensors = new Map<string, TensorInfo>();
  let metadata: Record<string, string> = {};
  for (const [name, value] of Object.entries(json as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (value === null) continue; // the reference implementation accepts null as "no metadata"
      if (typeof value !== 'object' || Array.isArray(value)) fail('__metadata__ is not an object');
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
        if (typeof v !== 'string') fail(`__metadata__.${k} is not a string`);
      }
      metadata = value as Record<string, string>;
      continue;
    }
    tensors.set(name, checkTensor(name, value, dataSize, fail));
  }
  checkOverlaps(tensors, fail);
  return { tensors, metadata, dataStart };
}

function checkTensor(name: string, value: unknown, dataSize: number, fail: (r: string) => never): TensorInfo {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail(`tensor "${name}" is not an object`);
  const { dtype, shape, data_offsets } = value as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
  // hasOwn, not `in`: "toString" or "constructor" must not pass as a dtype.
  if (typeof dtype !== 'string' || !Object.hasOwn(DTYPE_BYTES, dtype)) fail(`tensor "${name}" has unsupported dtype ${JSON.stringify(dtype)}`);
  if (!Array.isArray(shape) || !shape.every((s) => Number.isSafeInteger(s) && s >= 0)) {
    fail(`tensor "${name}" has an invalid shape ${JSON.stringify(shape)}`);
  }
  if (!Array.isArray(data_offsets) || data_offsets.length !== 2 || !data_offsets.every((o) => Number.isSafeInteger(o) && o >= 0)) {
    fail(`tensor "${name}" has invalid data_offsets ${JSON.stringify(data_offsets)}`);
  }
  const [begin, end] = data_offsets as [number, number];
  if (end < begin) fail(`tensor "${name}" ends (${end}) before it begins (${begin})`);
  if (end > dataSize) fail(`tensor "${name}" ends at byte ${end} but the data section has only ${dataSize} bytes (truncated file?)`);
  let count = 1;
  for (const s of shape as number[]) {
    count *= s;
    if (!Number.isSafeInteger(count)) fail(`tensor "${name}" has too many elements`);
  }
  const expected = count * DTYPE_BYTES[dtype as DType];
  if (end - begin !== expected) {
    fail(`tensor "${name}" of shape [${(shape as number[]).join(', ')}] ${dtype} needs ${expected} bytes but its offsets span ${end - begin}`);
  }
  return { dtype: dtype as DType, shape: shape as number[], begin, end };
}

function checkOverlaps(tensors: Map<string, TensorInfo>, fail: (r: string) => never): void {
  const sorted = [...tensors.entries()].sort((a, b) => a[1].begin - b[1].begin);
  for (let i = 1; i < sorted.length; i++) {
    const [prevName, prev] = sorted[i - 1];
    const [name, cur] = sorted[i];
    if (cur.begin < prev.end) fail(`tensors "${prevName}" and "${name}" overlap`);
  }
}

/** Converts raw little-endian bytes of any float dtype to float32 (the engine computes in float32). */
export function toFloat32(bytes: Uint8Array, dtype: DType, name: string): Float32Array {
  const n = bytes.byteLength / DTYPE_BYTES[dtype];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float32Array(n);
  switch (dtype) {
    case 'F32':
      for (let i = 0; i < n; i++) out[i] = view.getFloat32(i * 4, true);
      return out;
    case 'F64':
      for (let i = 0; i < n; i++) out[i] = view.getFloat64(i * 8, true);
      return out;
    case 'F16':
      for (let i = 0; i < n; i++) out[i] = halfToFloat(view.getUint16(i * 2, true));
      return out;
    case 'BF16': {
      // bfloat16 is the top half of a float32.
      const u32 = new Uint32Array(out.buffer);
      for (let i = 0; i < n; i++) u32[i] = view.getUint16(i * 2, true) << 16;
      return out;
    }
    default:
      throw new Error(`Tensor "${name}" has dtype ${dtype}; a floating-point tensor (F32, F16, BF16, F64) was expected.`);
  }
}

function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/** An open safetensors file: header parsed and validated, tensors read on demand. */
export class SafetensorsFile {
  readonly header: SafetensorsHeader;
  private constructor(readonly path: string, private readonly fd: number, fileSize: number) {
    const read = (start: number, length: number) => {
      const buf = Buffer.alloc(length);
      const got = fs.readSync(fd, buf, 0, length, start);
      if (got !== length) throw new SafetensorsError(path, `could only read ${got} of ${length} header bytes`);
      return buf;
    };
    this.header = parseHeader(read, fileSize, path);
  }
  static open(file: string): SafetensorsFile {
    const fd = fs.openSync(file, 'r');
    try {
      return new SafetensorsFile(file, fd, fs.fstatSync(fd).size);
    } catch (e) {
      fs.closeSync(fd);
      throw e;
    }
  }
  keys(): string[] {
    return [...this.header.tensors.keys()];
  }
  info(name: string): TensorInfo {
    const t = this.header.tensors.get(name);
    if (!t) throw new Error(`${this.path} has no tensor "${name}".`);
    return t;
  }
  bytes(name: string): Uint8Array {
    const t = this.info(name);
    const buf = Buffer.alloc(t.end - t.begin);
    const got = fs.readSync(this.fd, buf, 0, buf.length, this.header.dataStart + t.begin);
    if (got !== buf.length) throw new SafetensorsError(this.path, `could only read ${got} of the ${buf.length} bytes of tensor "${name}" (was the file truncated while open?)`);
    return buf;
  }
  float32(name: string): Float32Array {
    return toFloat32(this.bytes(name), this.info(name).dtype, name);
  }
  close(): void {
    fs.closeSync(this.fd);
  }
}

export interface TensorToWrite {
  shape: number[];
  /** F32, or I32 (token ids: the prepared job of src/engine/prepare.ts). */
  data: Float32Array | Int32Array;
}

/** Serialises F32 and I32 tensors (sorted by name, 8-byte aligned header as the reference implementation pads it). */
export function serializeSafetensors(tensors: Record<string, TensorToWrite>, metadata: Record<string, string> = {}): Uint8Array {
  const names = Object.keys(tensors).sort();
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length) header.__metadata__ = metadata;
  let offset = 0;
  for (const name of names) {
    const { shape, data } = tensors[name];
    if (name === '__metadata__') throw new Error('A tensor cannot be named "__metadata__": the format reserves that key.');
    if (!shape.every((s) => Number.isSafeInteger(s) && s >= 0)) throw new Error(`Tensor "${name}" has an invalid shape [${shape.join(', ')}].`);
    const count = shape.reduce((a, b) => a * b, 1);
    if (count !== data.length) throw new Error(`Tensor "${name}" has ${data.length} values but shape [${shape.join(', ')}] needs ${count}.`);
    header[name] = { dtype: data instanceof Int32Array ? 'I32' : 'F32', shape, data_offsets: [offset, offset + data.byteLength] };
    offset += data.byteLength;
  }
  let json = Buffer.from(JSON.stringify(header), 'utf8');
  const pad = (8 - (json.length % 8)) % 8;
  if (pad) json = Buffer.concat([json, Buffer.alloc(pad, 0x20)]);
  const out = new Uint8Array(8 + json.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  let pos = 8 + json.length;
  for (const name of names) {
    const d = tensors[name].data;
    const le = new Uint8Array(d.byteLength);
    const view = new DataView(le.buffer);
    if (d instanceof Int32Array) for (let i = 0; i < d.length; i++) view.setInt32(i * 4, d[i], true);
    else for (let i = 0; i < d.length; i++) view.setFloat32(i * 4, d[i], true);
    out.set(le, pos);
    pos += d.byteLength;
  }
  return out;
}

export function writeSafetensors(file: string, tensors: Record<string, TensorToWrite>, metadata: Record<string, string> = {}): void {
  writeFileAtomic(file, serializeSafetensors(tensors, metadata));
}
