import { blockQuantizedTensors } from './block-quantized.js';
import type { ModelProto } from './proto.js';
import { dtypeName, elementCount, tensorByteLength, tensorDims } from './tensor.js';

export interface ModelStats {
  nodes: number;
  opHistogram: Record<string, number>;
  /** Elements in non-scalar float (or int8) initializers: the model's parameters (block-quantized codes by the weight's shape, not their packed bytes). */
  parameters: number;
  initializerBytesByDtype: Record<string, number>;
  initializerBytes: number;
}

export function modelStats(model: ModelProto): ModelStats {
  const g = model.graph ?? {};
  const opHistogram: Record<string, number> = {};
  for (const n of g.node ?? []) {
    const key = n.domain && n.domain !== 'ai.onnx' ? `${n.domain}.${n.opType}` : (n.opType ?? '?');
    opHistogram[key] = (opHistogram[key] ?? 0) + 1;
  }
  const initializerBytesByDtype: Record<string, number> = {};
  let parameters = 0;
  let initializerBytes = 0;
  const blocks = blockQuantizedTensors(g);
  // Block scales and packed zero points are quantization parameters, not weights.
  const blockParams = new Set([...blocks.values()].flatMap((b) => [b.scales, b.zeroPoints]).filter((n): n is string => !!n));
  for (const t of g.initializer ?? []) {
    const name = dtypeName(t.dataType);
    const bytes = tensorByteLength(t);
    initializerBytesByDtype[name] = (initializerBytesByDtype[name] ?? 0) + bytes;
    initializerBytes += bytes;
    // Scalars are constants of the computation (scales, epsilons), not parameters.
    const dims = tensorDims(t);
    const block = blocks.get(t.name ?? '');
    if (block) parameters += elementCount(block.logicalDims);
    else if (dims.length > 0 && !blockParams.has(t.name ?? '') && ['float32', 'float16', 'bfloat16', 'float64', 'int8', 'uint8'].includes(name)) parameters += elementCount(dims);
  }
  return { nodes: (g.node ?? []).length, opHistogram, parameters, initializerBytesByDtype, initializerBytes };
}
