import { attrInts } from '../../onnx/index.js';
import type { GradientRule } from '../registry.js';

/** y = transpose(x, perm): dx = transpose(dy, inverse(perm)); perm defaults to reversing the dims. */
export const transposeGrad: GradientRule = (ctx) => {
  if (!ctx.needs(0)) return;
  const { e } = ctx;
  const r = e.rank(ctx.input(0));
  const perm = attrInts(ctx.node, 'perm') ?? Array.from({ length: r }, (_, i) => r - 1 - i);
  const inverse = perm.map((_, i) => perm.indexOf(i));
  ctx.grad(0, e.op('Transpose', [ctx.dy()!], { perm: inverse }));
};
