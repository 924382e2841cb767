import { attrInt } from '../../onnx/index.js';
import type { GradientRule } from '../registry.js';

/** y0, y1, ... = split(x, axis): dx = concat(dy0, dy1, ...), zeros for outputs no gradient reached. */
export const splitGrad: GradientRule = (ctx) => {
  if (!ctx.needs(0)) return;
  const { e, node } = ctx;
  const r = e.rank(ctx.input(0));
  let axis = attrInt(node, 'axis', 0);
  if (axis < 0) axis += r;
  const parts = (node.output ?? []).map((o, k) => ctx.dy(k) ?? e.zerosLike(o));
  ctx.grad(0, e.op('Concat', parts, { axis }));
};
