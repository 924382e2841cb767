import type { ModelProto } from '../../onnx/index.js';
import { quantizeModel, type QuantizeResult, type QuantizeSource } from '../driver.js';
import { resolveQuantizeOptions, type QuantizeOptions, type ResolvedQuantizeOptions } from '../options.js';
import { supportedOpTypes } from '../ops/registry.js';
import { defaultStaticOpTypes, staticOpTypes } from '../ops/static-registry.js';
import { quantizeModelStatic, type StaticSource } from '../static/driver.js';

/**
 * The quantizer as the guard and the node report call it: any mode, with the options' include
 * and exclude lists. Static mode calibrates on every call (its ranges depend on what stays float).
 */
export async function quantizeAnyMode(model: ModelProto, options: QuantizeOptions, source: QuantizeSource & StaticSource = {}): Promise<QuantizeResult> {
  return options.mode === 'static' ? quantizeModelStatic(model, options, source) : quantizeModel(model, options, source);
}

/** The options resolved as the mode's own driver resolves them (static mode has its own op types). */
export function resolveAnyMode(options: QuantizeOptions): ResolvedQuantizeOptions {
  if (options.mode === 'static') return resolveQuantizeOptions({ ...options, opTypes: options.opTypes ?? [...defaultStaticOpTypes] }, staticOpTypes);
  return resolveQuantizeOptions(options, supportedOpTypes);
}
