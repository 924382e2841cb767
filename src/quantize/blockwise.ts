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

// Adding and removing 1.5 * 2^52 rounds a double (|x| < 2^51) to the nearest integer, ties to even.
const ROUND_MAGIC = 6755399441055744;

/**
 * Quantizes `rows` rows of `length` values block by block along each row. `values` holds the
 * rows one after another ([rows, length]), or, with `transposed`, one column after another
 * ([length, rows], a MatMul weight [K, N] whose rows are its N columns): read in place, block by
 * block with all rows at once, so the weight is never copied into a transposed array.
 * NaN or Inf is a UserError naming the tensor.
 */
export function quantizeRowBlocks(name: string, values: Float32Array, rows: number, length: number, spec: BlockSpec, padded: boolean, transposed = false): BlockQuantized {
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
  // Per-row state of the current block.
  const lo = new Float64Array(rows);
  const hi = new Float64Array(rows);
  const peak = new Float64Array(rows);
  const inv = new Float64Array(rows);
  const scaleOf = new Float64Array(rows);
  const zpOf = new Float64Array(rows);
  let signal = 0;
  let noise = 0;
  let maxErr = 0;
  let minScale = Infinity;
  let maxScale = 0;
  for (let blk = 0; blk < blocksPerRow; blk++) {
    const start = blk * blockSize;
    const end = Math.min(start + blockSize, length);
    lo.fill(0);
    hi.fill(0);
    peak.fill(0);
    // Pass 1: each row's range in this block (holding 0). Two loop orders, so both layouts read
    // memory in order: rows inner when the weight is stored transposed.
    if (transposed) {
      for (let k = start; k < end; k++) {
        const base = k * rows;
        for (let r = 0; r < rows; r++) {
          const w = values[base + r]!;
          if (w < lo[r]!) lo[r] = w;
          else if (w > hi[r]!) hi[r] = w;
          else if (w !== w) throwNaN(name, r);
        }
      }
    } else {
      for (let r = 0; r < rows; r++) {
        const base = r * length;
        let l = 0;
        let h = 0;
        for (let k = start; k < end; k++) {
          const w = values[base + k]!;
          if (w < l) l = w;
          else if (w > h) h = w;
          else if (w !== w) throwNaN(name, r);
        }
        lo[r] = l;
        hi[r] = h;
      }
    }
    for (let r = 0; r < rows; r++) {
      if (!Number.isFinite(lo[r]!) || !Number.isFinite(hi[r]!)) throw new UserError(`weight ${name} holds an infinite value (row ${r}); cannot quantize a non-finite value`);
      peak[r] = -lo[r]! > hi[r]! ? lo[r]! : hi[r]!;
      let scale: number;
      let zp: number;
      if (spec.symmetric) {
        scale = Math.fround(peak[r]! / -half);
        zp = half;
      } else {
        scale = Math.fround((hi[r]! - lo[r]!) / qmax);
        zp = scale === 0 ? 0 : Math.min(qmax, Math.max(0, roundHalfEven(-lo[r]! / scale)));
      }
      scaleOf[r] = scale;
      zpOf[r] = zp;
      inv[r] = scale === 0 ? 0 : 1 / scale;
      scales[r * blocksPerRow + blk] = scale;
      if (zps) zps[r * blocksPerRow + blk] = zp;
      const a = Math.abs(scale);
      if (a < minScale) minScale = a;
      if (a > maxScale) maxScale = a;
    }
    // Pass 2: codes and the error they carry.
    if (transposed) {
      for (let k = start; k < end; k++) {
        const base = k * rows;
        for (let r = 0; r < rows; r++) {
          const w = values[base + r]!;
          const zp = zpOf[r]!;
          let q = w * inv[r]! + ROUND_MAGIC - ROUND_MAGIC + zp;
          q = q < 0 ? 0 : q > qmax ? qmax : q;
          codes[r * stride + k] = q;
          const err = w - (q - zp) * scaleOf[r]!;
          signal += w * w;
          noise += err * err;
          if (err > maxErr) maxErr = err;
          else if (-err > maxErr) maxErr = -err;
        }
      }
    } else {
      for (let r = 0; r < rows; r++) {
        const base = r * length;
        const out = r * stride;
        const zp = zpOf[r]!;
        const iv = inv[r]!;
        const sc = scaleOf[r]!;
        for (let k = start; k < end; k++) {
          const w = values[base + k]!;
          let q = w * iv + ROUND_MAGIC - ROUND_MAGIC + zp;
          q = q < 0 ? 0 : q > qmax ? qmax : q;
          codes[out + k] = q;
          const err = w - (q - zp) * sc;
          signal += w * w;
          noise += err * err;
          if (err > maxErr) maxErr = err;
          else if (-err > maxErr) maxErr = -err;
        }
      }
    }
    // Padding decodes to 0 (the matching rows of A do not exist, but a 0 is safe either way).
    if (padded && end < start + blockSize) for (let r = 0; r < rows; r++) codes.fill(zpOf[r]!, r * stride + end, r * stride + start + blockSize);
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

function throwNaN(name: string, row: number): never {
  throw new UserError(`weight ${name} holds NaN (row ${row}); cannot quantize a non-finite value`);
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
