import type { ModelProto } from '../../onnx/index.js';
import { quantizeModel, type QuantizeResult, type QuantizeSource } from '../driver.js';
import type { QuantizeOptions } from '../options.js';
import { quantizeModelStatic, type StaticSource } from '../static/driver.js';

/**
 * The quantizer as the guard and the node report call it: any mode, with the options' include
 * and exclude lists. Static mode calibrates on every call (its ranges depend on what stays float).
 */
export async function quantizeAnyMode(model: ModelProto, options: QuantizeOptions, source: QuantizeSource & StaticSource = {}): Promise<QuantizeResult> {
  return options.mode === 'static' ? quantizeModelStatic(model, options, source) : quantizeModel(model, options, source);
}
