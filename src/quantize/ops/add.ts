import type { NodeProto } from '../../onnx/index.js';
import { MS_DOMAIN } from '../rule.js';
import type { QdqPlanResult, StaticPlanContext, StaticQuantizeRule } from '../static/rule.js';

/**
 * Add/Mul of two tensors: computed inputs are activations, a large constant input is an int8
 * weight (per tensor), a small one (a scalar, a bias) stays float. com.microsoft QLinearAdd /
 * QLinearMul under --format qoperator when both inputs are quantized.
 */
export function planBinary(node: NodeProto, ctx: StaticPlanContext): QdqPlanResult {
  const inputs = node.input ?? [];
  if (inputs.length !== 2 || !inputs[0] || !inputs[1]) return { skip: `${node.opType} without two inputs` };
  const activations: number[] = [];
  const weights: Array<{ input: number; channelAxis: undefined }> = [];
  for (const k of [0, 1]) {
    if (!ctx.constantInfo(inputs[k]!)) activations.push(k);
    else if (!('skip' in ctx.constantWeight(inputs[k]!))) weights.push({ input: k, channelAxis: undefined });
  }
  if (activations.length === 0) return { skip: 'both inputs are constants' };
  return { activations, weights, output: 'own' };
}

export function binaryQOperator(opType: 'QLinearAdd' | 'QLinearMul') {
  return (node: NodeProto, io: import('../static/rule.js').QOperatorIo): NodeProto | undefined => {
    const [a, b] = io.inputs;
    if (!a || !b) return undefined;
    return { opType, domain: MS_DOMAIN, input: [a.data, a.scale, a.zeroPoint, b.data, b.scale, b.zeroPoint, io.output.scale, io.output.zeroPoint], output: [io.output.data] };
  };
}

export const addRule: StaticQuantizeRule = { opType: 'Add', plan: planBinary, qoperator: binaryQOperator('QLinearAdd') };
