import { closeSync, openSync, readSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { UserError } from '../errors.js';
import { DataType, elementCount, tensorDims, tensorToFloat32, type TensorProto } from '../onnx/index.js';
import { arraySource, type FloatSource } from './weights.js';

// 1 MiB. quantizeFile makes the two passes over a large weight at different times (ranges while
// the graph is rewritten, values while the file is written: see deferred.ts), so a chunk that
// holds a whole tensor (`held`) saves a read only for small weights; a 16 MiB buffer cost ~4k
// page faults (~60 ms on the project's VM) for nothing.
const CHUNK_VALUES = 1 << 18;
let scratch: Float32Array | undefined;
/** The source whose whole tensor the scratch buffer holds, if any (a source is one tensor of one call). */
let held: object | undefined;

/** One reused buffer for chunks: fresh pages are slow on some VMs, reused ones are not. */
function scratchFor(values: number): Float32Array {
  held = undefined;
  if (values > CHUNK_VALUES) return new Float32Array(values);
  scratch ??= new Float32Array(CHUNK_VALUES);
  return scratch.subarray(0, values);
}

function chunkValues(multipleOf: number, total: number): number {
  const m = Math.max(1, multipleOf);
  return Math.min(total, Math.max(m, Math.floor(CHUNK_VALUES / m) * m));
}

/**
 * The float32 values of a tensor as a FloatSource: aligned raw_data as a view, unaligned
 * raw_data through the scratch buffer, external data (files resolved against `baseDir`, as
 * loadModelLazy leaves large tensors) read from disk chunk by chunk.
 */
export function tensorFloatSource(t: TensorProto, baseDir: string | undefined, label: string): FloatSource {
  if (t.dataType !== DataType.FLOAT) throw new Error(`tensor ${t.name}: not float32`);
  const n = elementCount(tensorDims(t));
  if (t.dataLocation === 1) return externalSource(t, n, baseDir, label);
  const raw = t.rawData;
  if (!raw || raw.length === 0 || raw.byteOffset % 4 === 0) return arraySource(tensorToFloat32(t));
  if (raw.length !== n * 4) throw new UserError(`${label}: tensor ${t.name}: raw_data has ${raw.length} bytes, expected ${n * 4}`);
  return {
    length: n,
    forEachChunk(multipleOf, visit) {
      const size = chunkValues(multipleOf, n);
      for (let start = 0; start < n; start += size) {
        const count = Math.min(size, n - start);
        const chunk = scratchFor(count);
        new Uint8Array(chunk.buffer, chunk.byteOffset, count * 4).set(raw.subarray(start * 4, (start + count) * 4));
        visit(chunk, start);
      }
    },
  };
}

function externalSource(t: TensorProto, n: number, baseDir: string | undefined, label: string): FloatSource {
  const kv = Object.fromEntries((t.externalData ?? []).map((e) => [e.key, e.value]));
  const location = kv.location;
  if (!baseDir) throw new UserError(`${label}: tensor ${t.name}: data is in external file ${location}, and no model directory was given to read it from`);
  if (!location || isAbsolute(location) || location.split(/[\\/]/).includes('..')) {
    throw new UserError(`${label}: tensor ${t.name}: external data location ${JSON.stringify(location)} is not a file next to the model`);
  }
  const file = join(baseDir, location);
  const offset = Number(kv.offset ?? 0);
  if (kv.length !== undefined && Number(kv.length) !== n * 4) {
    throw new UserError(`${label}: tensor ${t.name}: external data holds ${kv.length} bytes, expected ${n * 4}`);
  }
  const source: FloatSource = {
    length: n,
    forEachChunk(multipleOf, visit) {
      // quantizeWeight makes two passes (ranges, then values): a tensor that fits in one chunk is read once.
      if (held === source) return visit(scratch!.subarray(0, n), 0);
      let fd: number;
      try {
        fd = openSync(file, 'r');
      } catch {
        throw new UserError(`${label}: tensor ${t.name}: external data file ${location} not found next to the model`);
      }
      try {
        const size = chunkValues(multipleOf, n);
        for (let start = 0; start < n; start += size) {
          const count = Math.min(size, n - start);
          const chunk = scratchFor(count);
          const bytes = new Uint8Array(chunk.buffer, chunk.byteOffset, count * 4);
          let got = 0;
          while (got < bytes.length) {
            const r = readSync(fd, bytes, got, bytes.length - got, offset + start * 4 + got);
            if (r === 0) throw new UserError(`${label}: tensor ${t.name}: external data file ${location} is truncated`);
            got += r;
          }
          if (count === n && n <= CHUNK_VALUES) held = source;
          visit(chunk, start);
        }
      } finally {
        closeSync(fd);
      }
    },
  };
  return source;
}
