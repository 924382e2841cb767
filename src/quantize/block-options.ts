import { UserError } from '../errors.js';
import { checkBlockSpec } from './blockwise.js';

/** Weight-only block quantization settings (`--bits 4|8`). */
export interface BlockOptions {
  bits: 4 | 8;
  blockSize: number;
  /** MatMulNBits accuracy_level: 0 unset (as 1 on CPU), 1 float32 compute, 4 int8 compute of A per block. */
  accuracyLevel: 0 | 1 | 4;
  symmetric: boolean;
}

export const defaultBlockSize = 32;
/** Measured on a BERT-base-sized model (docs/commands/quantize.md, scripts/bench-nbits.ts). */
export const defaultAccuracyLevel = 4;

/** undefined without --bits (dynamic int8); otherwise checked block settings. */
export function resolveBlockOptions(o: {
  bits?: number;
  blockSize?: number;
  accuracyLevel?: number;
  symmetric?: boolean;
  perChannel?: boolean;
  reduceRange?: boolean;
  mode?: string;
}): BlockOptions | undefined {
  if (o.bits === undefined) {
    if (o.blockSize !== undefined) throw new UserError('--block-size needs --bits 4 or --bits 8 (block quantization)');
    if (o.accuracyLevel !== undefined) throw new UserError('--accuracy-level needs --bits 4 or --bits 8 (block quantization)');
    return undefined;
  }
  if (o.bits !== 4 && o.bits !== 8) throw new UserError(`--bits ${o.bits}: expected 4 or 8 (block-wise weight-only quantization); omit it for dynamic int8`);
  if (o.mode === 'static') throw new UserError('--bits is weight-only block quantization; it does not combine with --mode static');
  if (o.perChannel) throw new UserError('--per-channel does not apply to --bits: every block of --block-size values has its own scale already');
  if (o.reduceRange) throw new UserError('--reduce-range does not apply to --bits (it is for dynamic int8 on CPUs without VNNI)');
  const spec = { bits: o.bits, blockSize: o.blockSize ?? defaultBlockSize, symmetric: o.symmetric ?? true } as const;
  checkBlockSpec(spec);
  const level = o.accuracyLevel ?? defaultAccuracyLevel;
  if (level !== 0 && level !== 1 && level !== 4) throw new UserError(`--accuracy-level ${level}: expected 0, 1 or 4`);
  return { ...spec, accuracyLevel: level };
}
