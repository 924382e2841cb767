import { attrFloat, attrInt } from '../../onnx/index.js';
import type { GradientRule } from '../registry.js';

/**
 * LayerNormalization (opset 17): y = xhat * scale + bias, xhat = (x - mean) * rstd over the
 * axes from `axis` on. With g = dy * scale and means over the normalised axes:
 *   dx = rstd * (g - mean(g) - xhat * mean(g * xhat)), dscale = sum(dy * xhat), dbias = sum(dy).
 * Mean and rstd are recomputed here (a handful of ops on activations) rather than read from
 * the node's optional outputs, whose element type is fixed by stash_type, not by x.
 */
export const layerNormalizationGrad: GradientRule = (ctx) => {
  const { e, node } = ctx;
  const [x, scale, bias] = [ctx.input(0), ctx.input(1), ctx.input(2)];
  const dy = ctx.dy(0);
  if (!dy) return;
  const r = e.rank(x);
  let axis = attrInt(node, 'axis', -1);
  if (axis < 0) axis += r;
  const normAxes = Array.from({ length: r - axis }, (_, i) => axis + i);
  const eps = attrFloat(node, 'epsilon', 1e-5);
  const s = (v: number) => e.scalar(v, x);
  const centered = e.op('Sub', [x, e.reduce('ReduceMean', x, normAxes, true)]);
  const variance = e.reduce('ReduceMean', e.op('Mul', [centered, centered]), normAxes, true);
  const rstd = e.op('Reciprocal', [e.op('Sqrt', [e.op('Add', [variance, s(eps)])])]);
  const xhat = e.op('Mul', [centered, rstd]);
  const xDims = e.dims(x);
  if (ctx.needs(1)) ctx.grad(1, e.sumToShape(e.op('Mul', [dy, xhat]), xDims, e.dims(scale)));
  if (bias && ctx.needs(2)) ctx.grad(2, e.sumToShape(dy, xDims, e.dims(bias)));
  if (ctx.needs(0)) {
    const g = e.op('Mul', [dy, scale]);
    const meanG = e.reduce('ReduceMean', g, normAxes, true);
    const meanGx = e.reduce('ReduceMean', e.op('Mul', [g, xhat]), normAxes, true);
    ctx.grad(0, e.op('Mul', [e.op('Sub', [e.op('Sub', [g, meanG]), e.op('Mul', [xhat, meanGx])]), rstd]));
  }
};
