import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Long from 'long';
import { afterAll, describe, expect, it } from 'vitest';
import {
  attrInts,
  checkModel,
  DataType,
  decodeModel,
  encodeModel,
  encodeModelPieces,
  GraphBuilder,
  loadModel,
  makeAttribute,
  makeTensor,
  saveModel,
  tensorDims,
  tensorToArray,
  toBigInt,
  toNumber,
  type ModelProto,
  type TensorProto,
} from '../src/onnx/index.js';
import { quantizeFile, quantizeModel } from '../src/quantize/index.js';

const dir = mkdtempSync(join(tmpdir(), 'onnx-io-roundtrip-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const roundTrip = (m: ModelProto) => decodeModel(encodeModel(m));
const concat = (pieces: Uint8Array[]) => Buffer.concat(pieces.map((p) => Buffer.from(p.buffer, p.byteOffset, p.byteLength)));

describe('initializers in every encoding come back as typed arrays', () => {
  function modelWith(tensors: TensorProto[]): ModelProto {
    const b = new GraphBuilder({ opset: 17 });
    b.graph.initializer!.push(...tensors);
    b.node('Identity', [b.input('x', DataType.FLOAT, [1])], { outputs: ['y'] });
    b.output('y');
    return b.build();
  }

  it('float_data, int32_data (int8/uint8/int16/bool/float16), int64_data with Longs, double_data, uint64_data', () => {
    const INT64_MAX = Long.fromString('9223372036854775807');
    const m = roundTrip(
      modelWith([
        { name: 'f', dataType: DataType.FLOAT, dims: [2, 2], floatData: [1.5, -2, 0.25, 3] },
        { name: 'i8', dataType: DataType.INT8, dims: [3], int32Data: [-128, 0, 127] },
        { name: 'u8', dataType: DataType.UINT8, dims: [2], int32Data: [0, 255] },
        { name: 'i16', dataType: DataType.INT16, dims: [2], int32Data: [-32768, 32767] },
        { name: 'b', dataType: DataType.BOOL, dims: [2], int32Data: [1, 0] },
        { name: 'h', dataType: DataType.FLOAT16, dims: [1], int32Data: [0x3c00] },
        { name: 'i64', dataType: DataType.INT64, dims: [3], int64Data: [INT64_MAX, -5, Long.fromNumber(2 ** 40)] },
        { name: 'd', dataType: DataType.DOUBLE, dims: [2], doubleData: [Math.PI, -1e300] },
        { name: 'u64', dataType: DataType.UINT64, dims: [1], uint64Data: [Long.fromString('18446744073709551615', true)] },
      ]),
    );
    const get = (n: string) => tensorToArray(m.graph!.initializer!.find((t) => t.name === n)!);
    expect(get('f')).toEqual(Float32Array.of(1.5, -2, 0.25, 3));
    expect(get('i8')).toEqual(Int8Array.of(-128, 0, 127));
    expect(get('u8')).toEqual(Uint8Array.of(0, 255));
    expect(get('i16')).toEqual(Int16Array.of(-32768, 32767));
    expect(get('b')).toEqual(Uint8Array.of(1, 0));
    expect(get('h')).toEqual(Uint16Array.of(0x3c00));
    expect(get('i64')).toEqual(BigInt64Array.of(9223372036854775807n, -5n, 2n ** 40n));
    expect(get('d')).toEqual(Float64Array.of(Math.PI, -1e300));
    expect(get('u64')).toEqual(BigUint64Array.of(18446744073709551615n));
  });

  it('raw_data at an unaligned offset is read correctly (protobuf hands out views into the file)', () => {
    const values = Float32Array.of(1, -2, 3.5, 1e-8);
    const backing = new Uint8Array(1 + values.byteLength);
    backing.set(new Uint8Array(values.buffer), 1);
    const t: TensorProto = { name: 'w', dataType: DataType.FLOAT, dims: [4], rawData: backing.subarray(1) };
    expect(tensorToArray(t)).toEqual(values);
    // After a real decode, raw_data views sit wherever the field was in the file.
    const m = roundTrip(modelWith([makeTensor('a', Int8Array.of(1), [1]), makeTensor('w', values, [4])]));
    const w = m.graph!.initializer!.find((x) => x.name === 'w')!;
    expect(w.rawData!.byteOffset % 4).not.toBe(0);
    expect(tensorToArray(w)).toEqual(values);
  });

  it('int64 fields (dims, attributes, versions) keep values past 2^53 exactly', () => {
    const b = new GraphBuilder({ opset: 17 });
    const x = b.input('x', DataType.FLOAT, [4]);
    const ends = b.int64([0], [1]);
    // Slice to INT64_MAX, as exporters write "until the end".
    const big = Long.fromString('9223372036854775807');
    b.graph.initializer!.find((t) => t.name === ends)!.int64Data = [big];
    delete b.graph.initializer!.find((t) => t.name === ends)!.rawData;
    b.node('Slice', [x, b.int64([0]), ends], { outputs: ['y'] });
    b.output('y');
    const m = b.build();
    m.graph!.node![0]!.attribute = [{ ...makeAttribute('big', 1), i: big }];
    m.modelVersion = Long.fromString('9007199254740993');
    const back = roundTrip(m);
    expect(toBigInt(back.modelVersion)).toBe(9007199254740993n);
    expect(toBigInt(back.graph!.node![0]!.attribute![0]!.i)).toBe(9223372036854775807n);
    expect(tensorToArray(back.graph!.initializer!.find((t) => t.name === ends)!)).toEqual(BigInt64Array.of(9223372036854775807n));
    expect(toNumber(back.irVersion)).toBe(8);
    expect(attrInts(back.graph!.node![0]!, 'nope')).toBeUndefined();
  });
});

describe('round trips are lossless, including fields onnx-proto (ONNX 1.10) does not know', () => {
  /** A model carrying what current exporters write: metadata_props everywhere, function overloads, IR 10 types. */
  function richModel(): ModelProto {
    const b = new GraphBuilder({ opset: 17 });
    const x = b.input('x', DataType.FLOAT, [2, 64]);
    const w = b.initializer('W', Float32Array.from({ length: 64 * 64 }, (_, i) => Math.sin(i) * 0.1), [64, 64]);
    const mm = b.op('MatMul', [x, w], undefined, { name: 'proj' });
    const y = b.node('Relu', [mm], { outputs: ['y'], name: 'act' })[0]!;
    b.node('LocalGelu', [y], { outputs: ['z'], name: 'call', domain: 'custom.fn' });
    b.output('z', DataType.FLOAT, [2, 64]);
    const m = b.build({ irVersion: 10 });
    const g = m.graph!;
    g.metadataProps = [{ key: 'graph.note', value: 'kept' }];
    g.node![0]!.metadataProps = [{ key: 'source', value: 'layer0.proj' }];
    g.node![1]!.metadataProps = [{ key: 'source', value: 'layer0.act' }];
    g.node![2]!.overload = 'v2';
    g.initializer!.find((t) => t.name === w)!.metadataProps = [{ key: 'tensor.origin', value: 'torch' }];
    g.input![0]!.metadataProps = [{ key: 'input.note', value: 'tokens' }];
    // IR 10 element types onnx-proto has no enum for.
    g.initializer!.push({ name: 'f8', dataType: DataType.FLOAT8E4M3FN, dims: [2], rawData: Uint8Array.of(0x38, 0x40) });
    g.initializer!.push({ name: 'i4', dataType: DataType.INT4, dims: [4], rawData: Uint8Array.of(0x21, 0x43) });
    m.metadataProps = [{ key: 'model.license', value: 'MIT' }];
    m.functions = [
      {
        name: 'LocalGelu',
        domain: 'custom.fn',
        overload: 'v2',
        input: ['a'],
        output: ['b'],
        node: [{ opType: 'Relu', input: ['a'], output: ['b'], metadataProps: [{ key: 'in.function', value: 'yes' }] }],
        opsetImport: [{ domain: '', version: 17 }],
        valueInfo: [{ name: 'a', type: { tensorType: { elemType: DataType.FLOAT } } }],
        metadataProps: [{ key: 'function.note', value: 'overloaded' }],
      },
    ];
    return m;
  }

  it('encode -> decode -> encode is byte-identical and keeps every field', () => {
    const m = richModel();
    const bytes = encodeModel(m);
    const back = decodeModel(bytes);
    expect(Buffer.compare(Buffer.from(encodeModel(back)), Buffer.from(bytes))).toBe(0);
    expect(toNumber(back.irVersion)).toBe(10);
    expect(back.graph!.node![2]!.overload).toBe('v2');
    expect(back.functions![0]!.overload).toBe('v2');
    expect(back.functions![0]!.valueInfo![0]!.name).toBe('a');
    expect([...back.graph!.initializer!.find((t) => t.name === 'f8')!.rawData!]).toEqual([0x38, 0x40]);
    // The pieces saveModel writes decode to the same model.
    expect(Buffer.compare(Buffer.from(encodeModel(decodeModel(concat(encodeModelPieces(back, 16))))), Buffer.from(bytes))).toBe(0);
  });

  it('survives load -> quantize -> save -> reload', async () => {
    const input = join(dir, 'rich.onnx');
    const output = join(dir, 'rich-int8.onnx');
    await saveModel(richModel(), input);
    const report = await quantizeFile(input, output, { format: 'qoperator' });
    expect(report.tensors.map((t) => t.name)).toEqual(['W']);
    const q = await loadModel(output);
    expect(checkModel(q)).toEqual([]);
    expect(toNumber(q.irVersion)).toBe(10);
    expect(q.metadataProps).toEqual([{ key: 'model.license', value: 'MIT' }]);
    expect(q.graph!.metadataProps).toEqual([{ key: 'graph.note', value: 'kept' }]);
    expect(q.graph!.input![0]!.metadataProps).toEqual([{ key: 'input.note', value: 'tokens' }]);
    const byName = (n: string) => q.graph!.node!.find((x) => x.name === n)!;
    // Untouched nodes keep theirs; the rewritten MatMul's replacement node (same name) carries its metadata on.
    expect(byName('act').metadataProps).toEqual([{ key: 'source', value: 'layer0.act' }]);
    expect(byName('call').overload).toBe('v2');
    expect(byName('proj').metadataProps).toEqual([{ key: 'source', value: 'layer0.proj' }]);
    expect(byName('proj').opType).toBe('Mul');
    // The quantized tensor carries the float tensor's metadata.
    const wq = q.graph!.initializer!.find((t) => t.name === 'W_quantized')!;
    expect(wq.dataType).toBe(DataType.INT8);
    expect(tensorDims(wq)).toEqual([64, 64]);
    expect(wq.metadataProps).toEqual([{ key: 'tensor.origin', value: 'torch' }]);
    expect([...q.graph!.initializer!.find((t) => t.name === 'i4')!.rawData!]).toEqual([0x21, 0x43]);
    const fn = q.functions![0]!;
    expect(fn).toMatchObject({ name: 'LocalGelu', overload: 'v2', metadataProps: [{ key: 'function.note', value: 'overloaded' }] });
    expect(fn.node![0]!.metadataProps).toEqual([{ key: 'in.function', value: 'yes' }]);
    expect(q.opsetImport!.map((o) => o.domain ?? '')).toEqual(['', 'custom.fn']);
  });

  it('quantizeFile (lazy weights, piecewise save) writes what quantizeModel on a fully loaded model gives', async () => {
    const input = join(dir, 'rich2.onnx');
    const output = join(dir, 'rich2-int8.onnx');
    await saveModel(richModel(), input);
    await quantizeFile(input, output);
    const direct = quantizeModel(await loadModel(input)).model;
    expect(Buffer.compare(Buffer.from(encodeModel(await loadModel(output))), Buffer.from(encodeModel(decodeModel(encodeModel(direct)))))).toBe(0);
  });
});
