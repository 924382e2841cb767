import { MS_DOMAIN } from '../rule.js';
import type { StaticQuantizeRule } from '../static/rule.js';

/**
 * The fused com.microsoft ops onnxruntime's transformer optimizer writes. None has a QDQ form
 * onnxruntime fuses back on CPU, so they stay float and the report says why; the MatMuls around
 * them are quantized as usual.
 */
const reasons: Record<string, string> = {
  Attention: 'com.microsoft Attention stays float: its int8 form (QAttention) is dynamic-only in onnxruntime; quantize the model before the transformer optimizer fuses attention',
  EmbedLayerNormalization: 'com.microsoft EmbedLayerNormalization stays float: its int8 form (QEmbedLayerNormalization) has no QDQ pattern onnxruntime fuses',
  SkipLayerNormalization: 'com.microsoft SkipLayerNormalization stays float (normalization is kept in float; onnxruntime has no int8 kernel for it)',
  BiasGelu: 'com.microsoft BiasGelu stays float (activation function; onnxruntime has no int8 kernel for it)',
  FastGelu: 'com.microsoft FastGelu stays float (activation function; onnxruntime has no int8 kernel for it)',
};

export const msFusedRules: StaticQuantizeRule[] = Object.entries(reasons).map(([opType, reason]) => ({
  opType,
  domain: MS_DOMAIN,
  plan: () => ({ skip: reason }),
}));
