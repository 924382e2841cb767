/**
 * Gradient rules by op type. A rule is a pure function of its context: it reads the forward
 * node, the gradients flowing into the node's outputs, and writes backward nodes through the
 * emitter, handing each input's gradient to `ctx.grad(i, g)` (contributions to a value read by
 * several consumers are summed by the caller). It only computes gradients for inputs where
 * `ctx.needs(i)` is true; inputs off the trainable path never ask.
 *
 * Adding an op is adding `rules/<op>.ts` and one line here.
 */
import type { NodeProto } from '../onnx/index.js';
import type { GradEmitter } from './emit.js';
import { addGrad } from './rules/add.js';
import { castGrad } from './rules/cast.js';
import { concatGrad } from './rules/concat.js';
import { divGrad } from './rules/div.js';
import { dropoutGrad } from './rules/dropout.js';
import { erfGrad } from './rules/erf.js';
import { expGrad } from './rules/exp.js';
import { expandGrad } from './rules/expand.js';
import { gatherGrad } from './rules/gather.js';
import { geluGrad } from './rules/gelu.js';
import { gemmGrad } from './rules/gemm.js';
import { identityGrad } from './rules/identity.js';
import { layerNormalizationGrad } from './rules/layer-normalization.js';
import { logGrad } from './rules/log.js';
import { logSoftmaxGrad } from './rules/log-softmax.js';
import { matMulGrad } from './rules/matmul.js';
import { mulGrad } from './rules/mul.js';
import { negGrad } from './rules/neg.js';
import { powGrad } from './rules/pow.js';
import { reciprocalGrad } from './rules/reciprocal.js';
import { reduceMeanGrad } from './rules/reduce-mean.js';
import { reduceSumGrad } from './rules/reduce-sum.js';
import { reluGrad } from './rules/relu.js';
import { reshapeGrad } from './rules/reshape.js';
import { sigmoidGrad } from './rules/sigmoid.js';
import { sliceGrad } from './rules/slice.js';
import { softmaxGrad } from './rules/softmax.js';
import { splitGrad } from './rules/split.js';
import { sqrtGrad } from './rules/sqrt.js';
import { subGrad } from './rules/sub.js';
import { tanhGrad } from './rules/tanh.js';
import { transposeGrad } from './rules/transpose.js';
import { whereGrad } from './rules/where.js';

export interface GradContext {
  readonly node: NodeProto;
  readonly e: GradEmitter;
  /** Name of input i ('' when the optional input is absent). */
  input(i: number): string;
  output(k: number): string;
  /** The gradient flowing into output k (default 0), undefined when none flows. */
  dy(k?: number): string | undefined;
  /** Whether input i needs a gradient (it lies between a trainable value and the loss). */
  needs(i: number): boolean;
  /** Adds a gradient contribution for input i. */
  grad(i: number, g: string): void;
  /**
   * The name of forward output k, adding it to the forward node when the model did not ask for
   * it (a training-mode Dropout's mask).
   */
  forwardOutput(k: number): string;
}

export type GradientRule = (ctx: GradContext) => void;

const rules = new Map<string, GradientRule>([
  ['Add', addGrad],
  ['Sub', subGrad],
  ['Mul', mulGrad],
  ['Div', divGrad],
  ['Pow', powGrad],
  ['Where', whereGrad],
  ['Neg', negGrad],
  ['Sqrt', sqrtGrad],
  ['Reciprocal', reciprocalGrad],
  ['Exp', expGrad],
  ['Log', logGrad],
  ['Erf', erfGrad],
  ['Tanh', tanhGrad],
  ['Sigmoid', sigmoidGrad],
  ['Relu', reluGrad],
  ['Gelu', geluGrad],
  ['com.microsoft:Gelu', geluGrad],
  ['Softmax', softmaxGrad],
  ['LogSoftmax', logSoftmaxGrad],
  ['ReduceMean', reduceMeanGrad],
  ['ReduceSum', reduceSumGrad],
  ['MatMul', matMulGrad],
  ['Gemm', gemmGrad],
  ['LayerNormalization', layerNormalizationGrad],
  ['Gather', gatherGrad],
  ['Reshape', reshapeGrad],
  ['Flatten', reshapeGrad],
  ['Squeeze', reshapeGrad],
  ['Unsqueeze', reshapeGrad],
  ['Transpose', transposeGrad],
  ['Expand', expandGrad],
  ['Concat', concatGrad],
  ['Split', splitGrad],
  ['Slice', sliceGrad],
  ['Identity', identityGrad],
  ['Cast', castGrad],
  ['Dropout', dropoutGrad],
]);

/** Registry key of a node: op type, prefixed by its domain when not the default one. */
export function ruleKey(node: NodeProto): string {
  const d = node.domain && node.domain !== 'ai.onnx' ? node.domain : '';
  return d ? `${d}:${node.opType}` : (node.opType ?? '');
}

export function gradientRule(node: NodeProto): GradientRule | undefined {
  return rules.get(ruleKey(node));
}

/** Op types (with domain prefix where not default) that have a gradient rule. */
export function supportedGradientOps(): string[] {
  return [...rules.keys()].sort();
}
