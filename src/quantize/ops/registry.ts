import type { QuantizeRule } from '../rule.js';
import { convDynamicRule } from './conv.js';
import { gatherRule } from './gather.js';
import { gemmRule } from './gemm.js';
import { matmulRule } from './matmul.js';
import { gatherBlockRule } from './gather-block.js';
import { gemmNBitsRule, matmulNBitsRule } from './matmul-nbits.js';

/** Op type -> quantization rule. Adding an op is one file in ops/ and one line here. */
export const quantizeRules: ReadonlyMap<string, QuantizeRule> = new Map(
  [matmulRule, gemmRule, gatherRule, convDynamicRule].map((r) => [r.opType, r]),
);

export const supportedOpTypes: readonly string[] = [...quantizeRules.keys()];

/** The rules for weight-only block quantization (--bits 4|8): MatMulNBits, GatherBlockQuantized. */
export const blockQuantizeRules: ReadonlyMap<string, QuantizeRule> = new Map(
  [matmulNBitsRule, gemmNBitsRule, gatherBlockRule].map((r) => [r.opType, r]),
);
