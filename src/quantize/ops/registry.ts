import type { QuantizeRule } from '../rule.js';
import { gatherRule } from './gather.js';
import { gemmRule } from './gemm.js';
import { matmulRule } from './matmul.js';

/** Op type -> quantization rule. Adding an op is one file in ops/ and one line here. */
export const quantizeRules: ReadonlyMap<string, QuantizeRule> = new Map(
  [matmulRule, gemmRule, gatherRule].map((r) => [r.opType, r]),
);

export const supportedOpTypes: readonly string[] = [...quantizeRules.keys()];
