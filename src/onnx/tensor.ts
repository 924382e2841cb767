import { DataType, type TensorProto } from './proto.js';
import { toNumbers, toNumber } from './longs.js';

export type TypedArray =
  | Float32Array
  | Float64Array
  | Int8Array
  | Uint8Array
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | BigInt64Array
  | BigUint64Array;

type ArrayCtor = { new (n: number): TypedArray; new (b: ArrayBuffer, o: number, n: number): TypedArray; BYTES_PER_ELEMENT: number };

interface DTypeInfo {
  name: string;
  ctor: ArrayCtor;
  /** Bytes per element in raw_data (0 for packed sub-byte types and strings). */
  bytes: number;
}

/** Element types we can read and write as typed arrays. FLOAT16/BFLOAT16 come back as raw Uint16 bits. */
export const dtypeInfo: Record<number, DTypeInfo> = {
  [DataType.FLOAT]: { name: 'float32', ctor: Float32Array as unknown as ArrayCtor, bytes: 4 },
  [DataType.DOUBLE]: { name: 'float64', ctor: Float64Array as unknown as ArrayCtor, bytes: 8 },
  [DataType.INT8]: { name: 'int8', ctor: Int8Array as unknown as ArrayCtor, bytes: 1 },
  [DataType.UINT8]: { name: 'uint8', ctor: Uint8Array as unknown as ArrayCtor, bytes: 1 },
  [DataType.INT16]: { name: 'int16', ctor: Int16Array as unknown as ArrayCtor, bytes: 2 },
  [DataType.UINT16]: { name: 'uint16', ctor: Uint16Array as unknown as ArrayCtor, bytes: 2 },
  [DataType.INT32]: { name: 'int32', ctor: Int32Array as unknown as ArrayCtor, bytes: 4 },
  [DataType.UINT32]: { name: 'uint32', ctor: Uint32Array as unknown as ArrayCtor, bytes: 4 },
  [DataType.INT64]: { name: 'int64', ctor: BigInt64Array as unknown as ArrayCtor, bytes: 8 },
  [DataType.UINT64]: { name: 'uint64', ctor: BigUint64Array as unknown as ArrayCtor, bytes: 8 },
  [DataType.BOOL]: { name: 'bool', ctor: Uint8Array as unknown as ArrayCtor, bytes: 1 },
  [DataType.FLOAT16]: { name: 'float16', ctor: Uint16Array as unknown as ArrayCtor, bytes: 2 },
  [DataType.BFLOAT16]: { name: 'bfloat16', ctor: Uint16Array as unknown as ArrayCtor, bytes: 2 },
};

const dtypeNames: Record<number, string> = Object.fromEntries(
  Object.entries(DataType).map(([k, v]) => [v, k.toLowerCase()]),
);

export function dtypeName(code: number | null | undefined): string {
  const c = code ?? 0;
  return dtypeInfo[c]?.name ?? dtypeNames[c] ?? `dtype(${c})`;
}

/** Bytes per element (fractional for 4-bit types), 0 when unknown. */
export function dtypeByteSize(code: number | null | undefined): number {
  const c = code ?? 0;
  if (dtypeInfo[c]) return dtypeInfo[c]!.bytes;
  if (c === DataType.INT4 || c === DataType.UINT4) return 0.5;
  if (c >= DataType.FLOAT8E4M3FN && c <= DataType.FLOAT8E5M2FNUZ) return 1;
  if (c === DataType.COMPLEX64) return 8;
  if (c === DataType.COMPLEX128) return 16;
  return 0;
}

export function tensorDims(t: TensorProto): number[] {
  return toNumbers(t.dims ?? []);
}

export function elementCount(dims: readonly number[]): number {
  return dims.reduce((a, b) => a * b, 1);
}

/** Bytes of the tensor's payload as stored (raw or typed fields). */
export function tensorByteLength(t: TensorProto): number {
  if (t.rawData && t.rawData.length) return t.rawData.length;
  return Math.ceil(elementCount(tensorDims(t)) * dtypeByteSize(t.dataType));
}

/**
 * The tensor's values as a typed array, whatever the encoding (raw_data, which may be
 * unaligned, or float_data / int32_data / int64_data / double_data / uint64_data).
 * Aligned raw_data is returned as a view (no copy): do not mutate it unless you own the model.
 */
export function tensorToArray(t: TensorProto): TypedArray {
  const code = t.dataType ?? 0;
  const info = dtypeInfo[code];
  if (!info) throw new Error(`tensor ${t.name ?? ''}: element type ${dtypeName(code)} is not supported here`);
  const n = elementCount(tensorDims(t));
  const raw = t.rawData;
  if (raw && raw.length) {
    if (raw.length !== n * info.bytes) {
      throw new Error(`tensor ${t.name ?? ''}: raw_data has ${raw.length} bytes, expected ${n * info.bytes}`);
    }
    if (raw.byteOffset % info.bytes === 0) return new info.ctor(raw.buffer as ArrayBuffer, raw.byteOffset, n);
    const copy = new Uint8Array(raw.length);
    copy.set(raw);
    return new info.ctor(copy.buffer, 0, n);
  }
  const out = new info.ctor(n);
  switch (code) {
    case DataType.FLOAT:
      (out as Float32Array).set(t.floatData ?? []);
      break;
    case DataType.DOUBLE:
      (out as Float64Array).set(t.doubleData ?? []);
      break;
    case DataType.INT64: {
      const src = t.int64Data ?? [];
      for (let i = 0; i < src.length; i++) (out as BigInt64Array)[i] = BigInt(src[i]!.toString());
      break;
    }
    case DataType.UINT64:
    case DataType.UINT32: {
      const src = t.uint64Data ?? [];
      if (code === DataType.UINT64) for (let i = 0; i < src.length; i++) (out as BigUint64Array)[i] = BigInt(src[i]!.toString());
      else for (let i = 0; i < src.length; i++) (out as Uint32Array)[i] = toNumber(src[i]);
      break;
    }
    default: {
      // int32, int16, uint16, int8, uint8, bool, float16, bfloat16 all live in int32_data.
      const src = t.int32Data ?? [];
      for (let i = 0; i < src.length; i++) (out as Int32Array)[i] = src[i]!;
    }
  }
  if (n > 0 && out.length !== n) throw new Error(`tensor ${t.name ?? ''}: holds ${out.length} values, dims say ${n}`);
  return out;
}

/** float32 values of a tensor (float16/bfloat16/double/ints converted). */
export function tensorToFloat32(t: TensorProto): Float32Array {
  const a = tensorToArray(t);
  if (a instanceof Float32Array) return a;
  const code = t.dataType ?? 0;
  const out = new Float32Array(a.length);
  if (code === DataType.FLOAT16) for (let i = 0; i < a.length; i++) out[i] = halfToFloat((a as Uint16Array)[i]!);
  else if (code === DataType.BFLOAT16) {
    const u = new Uint32Array(out.buffer);
    for (let i = 0; i < a.length; i++) u[i] = (a as Uint16Array)[i]! << 16;
  } else for (let i = 0; i < a.length; i++) out[i] = Number(a[i]!);
  return out;
}

export function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * 2 ** -14 * (f / 1024);
  if (e === 31) return f ? NaN : s * Infinity;
  return s * 2 ** (e - 15) * (1 + f / 1024);
}

/** int64 tensor values as numbers (shape constants, axes, indices). */
export function tensorToNumbers(t: TensorProto): number[] {
  const a = tensorToArray(t);
  const out: number[] = new Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = Number(a[i]!);
  return out;
}

function dtypeOfArray(a: TypedArray): number {
  if (a instanceof Float32Array) return DataType.FLOAT;
  if (a instanceof Float64Array) return DataType.DOUBLE;
  if (a instanceof Int8Array) return DataType.INT8;
  if (a instanceof Uint8Array) return DataType.UINT8;
  if (a instanceof Int16Array) return DataType.INT16;
  if (a instanceof Uint16Array) return DataType.UINT16;
  if (a instanceof Int32Array) return DataType.INT32;
  if (a instanceof Uint32Array) return DataType.UINT32;
  if (a instanceof BigInt64Array) return DataType.INT64;
  return DataType.UINT64;
}

/** A TensorProto holding `data` in raw_data (little-endian, as ONNX requires). */
export function makeTensor(name: string, data: TypedArray, dims: readonly number[], dataType?: number): TensorProto {
  const n = elementCount(dims);
  if (data.length !== n) throw new Error(`makeTensor ${name}: ${data.length} values for dims [${dims.join(', ')}]`);
  return {
    name,
    dataType: dataType ?? dtypeOfArray(data),
    dims: [...dims],
    rawData: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
  };
}

export function scalarTensor(name: string, value: number, dataType: number = DataType.FLOAT): TensorProto {
  const info = dtypeInfo[dataType];
  if (!info) throw new Error(`scalarTensor: unsupported type ${dataType}`);
  const a = new info.ctor(1);
  a[0] = (dataType === DataType.INT64 ? BigInt(value) : value) as never;
  return makeTensor(name, a, [], dataType);
}

export function int64Tensor(name: string, values: readonly number[], dims: readonly number[] = [values.length]): TensorProto {
  return makeTensor(name, BigInt64Array.from(values.map((v) => BigInt(v))), dims);
}
