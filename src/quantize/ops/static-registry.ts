import type { StaticQuantizeRule } from '../static/rule.js';
import { addRule } from './add.js';
import { concatRule } from './concat.js';
import { convRule, convTransposeRule } from './conv.js';
import { gatherStaticRule, gemmStaticRule, matmulStaticRule } from './matmul-static.js';
import { msFusedRules } from './ms-fused.js';
import { mulRule } from './mul.js';
import { averagePoolRule, globalAveragePoolRule, globalMaxPoolRule, maxPoolRule } from './pool.js';
import { reshapeLikeRules } from './reshape-like.js';
import { resizeRule } from './resize.js';

/** `domain:opType` ('' for ONNX) -> static (QDQ) rule. Adding an op is one file in ops/ and one entry here. */
export const staticRules: ReadonlyMap<string, StaticQuantizeRule> = new Map(
  [
    convRule,
    convTransposeRule,
    matmulStaticRule,
    gemmStaticRule,
    gatherStaticRule,
    addRule,
    mulRule,
    maxPoolRule,
    averagePoolRule,
    globalAveragePoolRule,
    globalMaxPoolRule,
    resizeRule,
    concatRule,
    ...reshapeLikeRules,
    ...msFusedRules,
  ].map((r) => [`${r.domain ?? ''}:${r.opType}`, r]),
);

/** Relu and Clip(min 0) are not rules of their own: after a quantized node they fold into its output's range. */
export const fusedActivationOps = ['Relu', 'Clip'];

export const staticOpTypes: readonly string[] = [...[...staticRules.values()].filter((r) => !r.domain).map((r) => r.opType), ...fusedActivationOps];

/** Default --op-types in static mode: everything but Add/Mul (opt-in: in transformers they feed LayerNorm and cost accuracy). */
export const defaultStaticOpTypes: readonly string[] = staticOpTypes.filter((t) => t !== 'Add' && t !== 'Mul');
