import { DataType, makeTensor, tensorByteLength, type NameAllocator, type TensorProto } from '../onnx/index.js';
import type { BlockOptions } from './block-options.js';
import { quantizeRowBlocks, type BlockQuantized } from './blockwise.js';
import type { FloatSource } from './weights.js';
import type { QuantizedTensorReport } from './report.js';
import type { BlockWeightNames, BlockWeightRequest } from './rule.js';

export interface BlockWeightEntry {
  names: BlockWeightNames;
  tensors: TensorProto[];
  report: QuantizedTensorReport;
}

/**
 * A 2-D float weight stored block-quantized: `rows: 'columns'` stores W [K, N] as N rows of K
 * (MatMulNBits' B), `rows: 'rows'` keeps [R, L] rows (Gemm transB=1, embedding tables).
 */
export function blockQuantizeTensor(
  name: string,
  tensor: TensorProto,
  source: FloatSource,
  dims: number[],
  request: BlockWeightRequest,
  spec: BlockOptions,
  names: NameAllocator,
  opType: string,
): BlockWeightEntry {
  if (dims.length !== 2) throw new Error(`internal: ${name} is ${dims.length}-D; block quantization takes 2-D weights`);
  const columns = request.rows === 'columns';
  const rows = columns ? dims[1]! : dims[0]!;
  const length = columns ? dims[0]! : dims[1]!;
  // One chunk holding the whole tensor (a view of in-memory data, or one read from the file),
  // quantized while it is valid.
  let q: BlockQuantized | undefined;
  const quantize = (chunk: Float32Array) => (q = quantizeRowBlocks(name, chunk, rows, length, spec, request.padded, columns));
  if (source.length === 0) quantize(new Float32Array(0));
  else source.forEachChunk(source.length, quantize);
  if (!q) throw new Error(`internal: ${name}: no values read`);
  const blobDims = request.padded ? [rows, q.blocksPerRow, (spec.blockSize * spec.bits) / 8] : [rows, (length * spec.bits) / 8];
  const suffix = `_${request.padded ? 'B' : 'G'}${spec.bits}`;
  const dataName = names.take(`${name}${suffix}_quantized`);
  const scaleName = names.take(`${name}${suffix}_scales`);
  const dataTensor = makeTensor(dataName, q.packed, blobDims, DataType.UINT8);
  if (tensor.docString) dataTensor.docString = tensor.docString;
  if (tensor.metadataProps?.length) dataTensor.metadataProps = tensor.metadataProps;
  const tensors = [dataTensor, makeTensor(scaleName, q.scales, [rows, q.blocksPerRow], DataType.FLOAT)];
  let zpName: string | undefined;
  if (q.zeroPoints) {
    zpName = names.take(`${name}${suffix}_zero_points`);
    tensors.push(makeTensor(zpName, q.zeroPoints, [rows, q.zeroPoints.length / rows], DataType.UINT8));
  }
  const fourBit = spec.bits === 4;
  return {
    names: { data: dataName, scales: scaleName, zeroPoints: zpName, rows, length, bits: spec.bits, blockSize: spec.blockSize },
    tensors,
    report: {
      name,
      quantizedName: dataName,
      nodes: [],
      opType,
      shape: dims,
      dtype: spec.symmetric ? (fourBit ? 'int4' : 'int8') : fourBit ? 'uint4' : 'uint8',
      axis: null,
      scale: q.scaleRange[1],
      zeroPoint: spec.symmetric ? 2 ** (spec.bits - 1) : null,
      block: { bits: spec.bits, size: spec.blockSize, count: q.scales.length, scaleMin: q.scaleRange[0], scaleMax: q.scaleRange[1] },
      maxAbsError: q.maxAbsError,
      sqnrDb: Number.isFinite(q.sqnrDb) ? q.sqnrDb : null,
      bytesBefore: tensorByteLength(tensor),
      bytesAfter: tensors.reduce((s, t) => s + tensorByteLength(t), 0),
    },
  };
}
