import { UserError } from '../errors.js';
import { roundHalfEven, sqnrDb } from './qparams.js';

/** How a weight is cut into blocks along its reduction axis and stored. */
export interface BlockSpec {
  bits: 4 | 8;
  /** Values per block along a row: a power of two >= 16. */
  blockSize: number;
  /**
   * Symmetric: code = clip(round(w / scale), -2^(b-1), 2^(b-1) - 1) with scale = m / -2^(b-1),
   * m the block's value of largest magnitude (its sign kept, as onnxruntime's MLAS does, so m
   * itself lands on the code -2^(b-1) exactly); stored offset by 2^(b-1), the ops' default zero
   * point, so no zero-point tensor is written. Asymmetric: the block's range, widened to hold
   * 0, over 2^b - 1 steps, with a per-block zero point stored.
   */
  symmetric: boolean;
}

/** Rows of a matrix quantized block by block, in MatMulNBits / GatherBlockQuantized layout. */
export interface BlockQuantized {
  rows: number;
  /** Values per row (K for MatMulNBits). */
  length: number;
  blocksPerRow: number;
  /**
   * Codes packed along the row, first value in the low bits of a byte. `padded`: each row
   * holds blocksPerRow * blockSize values (MatMulNBits' [N, k_blocks, blob]), the tail filled
   * with the zero point's code; unpadded: rows hold `length` values ([rows, length * bits / 8]).
   */
  packed: Uint8Array;
  /** [rows, blocksPerRow]. */
  scales: Float32Array;
  /** Asymmetric only: per-block zero points packed like the codes, [rows, ceil(blocksPerRow * bits / 8)]. */
  zeroPoints: Uint8Array | undefined;
  maxAbsError: number;
  /** Infinity when exact. */
  sqnrDb: number;
  /** Smallest and largest |scale| over the blocks. */
  scaleRange: [number, number];
}

export function checkBlockSpec(spec: BlockSpec): void {
  if (spec.bits !== 4 && spec.bits !== 8) throw new UserError(`--bits ${spec.bits}: block quantization takes 4 or 8`);
  const b = spec.blockSize;
  if (!Number.isInteger(b) || b < 16 || (b & (b - 1)) !== 0) throw new UserError(`--block-size ${b}: expected a power of two >= 16 (16, 32, 64, 128)`);
}

/**
 * Quantizes `rows` rows of `length` values (row-major `values`) block by block along each row.
 * NaN or Inf is a UserError naming the tensor.
 */
export function quantizeRowBlocks(name: string, values: Float32Array, rows: number, length: number, spec: BlockSpec, padded: boolean): BlockQuantized {
  checkBlockSpec(spec);
  const { bits, blockSize } = spec;
  if (values.length !== rows * length) throw new Error(`internal: ${name}: ${values.length} values for ${rows} x ${length}`);
  if (!padded && (length * bits) % 8 !== 0) throw new UserError(`${name}: rows of ${length} values do not fill whole bytes at ${bits} bits`);
  const blocksPerRow = Math.ceil(length / blockSize);
  const stride = padded ? blocksPerRow * blockSize : length;
  const levels = 2 ** bits;
  const half = levels / 2;
  const qmax = levels - 1;
  const codes = new Uint8Array(rows * stride);
  const scales = new Float32Array(rows * blocksPerRow);
  const zps = spec.symmetric ? undefined : new Uint8Array(rows * blocksPerRow);
  let signal = 0;
  let noise = 0;
  let maxErr = 0;
  let minScale = Infinity;
  let maxScale = 0;
  for (let r = 0; r < rows; r++) {
    const row = r * length;
    for (let blk = 0; blk < blocksPerRow; blk++) {
      const start = blk * blockSize;
      const end = Math.min(start + blockSize, length);
      let lo = 0;
      let hi = 0;
      let peak = 0;
      for (let k = start; k < end; k++) {
        const w = values[row + k]!;
        if (!Number.isFinite(w)) throw new UserError(`weight ${name} holds ${w} (at row ${r}, column ${k}); cannot quantize a non-finite value`);
        if (w < lo) lo = w;
        if (w > hi) hi = w;
        if (Math.abs(w) > Math.abs(peak)) peak = w;
      }
      let scale: number;
      let zp: number;
      if (spec.symmetric) {
        scale = Math.fround(peak / -half);
        zp = half;
      } else {
        scale = Math.fround((hi - lo) / qmax);
        zp = scale === 0 ? 0 : Math.min(qmax, Math.max(0, roundHalfEven(-lo / scale)));
      }
      const inv = scale === 0 ? 0 : 1 / scale;
      scales[r * blocksPerRow + blk] = scale;
      if (zps) zps[r * blocksPerRow + blk] = zp;
      const a = Math.abs(scale);
      if (a < minScale) minScale = a;
      if (a > maxScale) maxScale = a;
      const base = r * stride;
      for (let k = start; k < end; k++) {
        const w = values[row + k]!;
        const q = Math.min(qmax, Math.max(0, roundHalfEven(w * inv) + zp));
        codes[base + k] = q;
        const err = w - (q - zp) * scale;
        signal += w * w;
        noise += err * err;
        if (Math.abs(err) > maxErr) maxErr = Math.abs(err);
      }
      // Padding decodes to 0 (the matching rows of A do not exist, but a 0 is safe either way).
      if (padded) codes.fill(zp, base + end, base + start + blockSize);
    }
  }
  return {
    rows,
    length,
    blocksPerRow,
    packed: packCodes(codes, bits),
    scales,
    zeroPoints: zps && packCodes(padTo(zps, rows, blocksPerRow, bits), bits),
    maxAbsError: maxErr,
    sqnrDb: sqnrDb(signal, noise),
    scaleRange: [rows * blocksPerRow ? minScale : 0, maxScale],
  };
}

/** Per-row zero points padded so each row fills whole bytes (4 bits: an odd count gets one more). */
function padTo(zps: Uint8Array, rows: number, perRow: number, bits: number): Uint8Array {
  const per = Math.ceil((perRow * bits) / 8) * (8 / bits);
  if (per === perRow) return zps;
  const out = new Uint8Array(rows * per);
  for (let r = 0; r < rows; r++) out.set(zps.subarray(r * perRow, (r + 1) * perRow), r * per);
  return out;
}

/** Codes of `bits` bits packed into bytes, first code in the low bits. */
export function packCodes(codes: Uint8Array, bits: 4 | 8): Uint8Array {
  if (bits === 8) return codes;
  const out = new Uint8Array(codes.length >> 1);
  for (let i = 0; i < out.length; i++) out[i] = codes[2 * i]! | (codes[2 * i + 1]! << 4);
  return out;
}

/** A [rows, cols] float matrix transposed to [cols, rows]. */
export function transposeFloat(values: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(values.length);
  for (let r = 0; r < rows; r++) {
    const row = r * cols;
    for (let c = 0; c < cols; c++) out[c * rows + r] = values[row + c]!;
  }
  return out;
}
