/**
 * The opset a training graph runs at. Backward nodes need ScatterElements with
 * reduction='add' (opset 16), so graphs exported at 13-15 are raised to 16. That is safe for the forward ops:
 * between 13 and 16 only RoiAlign changed meaning (its default coordinate mode), and opset 13
 * is where Softmax/ReduceSum/Squeeze/Unsqueeze/Split/Slice took their current forms, which is
 * why older graphs are refused rather than silently reinterpreted.
 */
import { UserError } from '../errors.js';
import { ensureOpset, getAttribute, opsetVersion, toNumber, type ModelProto } from '../onnx/index.js';

export const MIN_SOURCE_OPSET = 13;
export const MIN_TRAINING_OPSET = 16;

/** Raises the default-domain opset (and IR version) of `model` in place for training. */
export function prepareTrainingOpset(model: ModelProto, label = 'model'): number {
  const v = opsetVersion(model, '');
  if (v === undefined) throw new UserError(`${label}: no opset import for the default ONNX domain`);
  if (v < MIN_SOURCE_OPSET) {
    throw new UserError(`${label}: opset ${v} is older than ${MIN_SOURCE_OPSET}; re-export the model with opset 13 or newer to train it`);
  }
  if (v >= MIN_TRAINING_OPSET) return v;
  for (const n of model.graph?.node ?? []) {
    if (n.opType === 'RoiAlign' && !n.domain && !getAttribute(n, 'coordinate_transformation_mode')) {
      throw new UserError(`${label}: node ${n.name ?? ''} (RoiAlign) changes meaning at opset 16; cannot train this graph`);
    }
  }
  ensureOpset(model, '', MIN_TRAINING_OPSET);
  // Opset 16 needs IR version 8.
  if (toNumber(model.irVersion) < 8) model.irVersion = 8;
  return MIN_TRAINING_OPSET;
}
