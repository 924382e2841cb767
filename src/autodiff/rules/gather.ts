import { attrInt } from '../../onnx/index.js';
import type { GradientRule } from '../registry.js';

/**
 * y = gather(data, indices, axis). The data gradient scatters dy back into zeros of data's
 * shape with ScatterND reduction='add' (opset 16), so repeated indices sum, as an embedding
 * gradient must; never a one-hot matmul over the vocabulary. Negative indices are wrapped
 * first (ScatterND wants them in range). For axis != 0 (the pooler's first-token Gather) the
 * axis is moved to the front with Transpose, scattered, and moved back. Indices get no gradient.
 */
export const gatherGrad: GradientRule = (ctx) => {
  if (!ctx.needs(0)) return;
  const { e, node } = ctx;
  const [data, indices] = [ctx.input(0), ctx.input(1)];
  const dy = ctx.dy()!;
  const r = e.rank(data);
  const q = e.rank(indices);
  let axis = attrInt(node, 'axis', 0);
  if (axis < 0) axis += r;

  let idx = indices;
  const known = e.constNumbers(indices);
  if (!known || known.some((v) => v < 0)) {
    const axisSize = e.op('Gather', [e.shapeOf(data), e.ints([axis])]);
    const wrapped = e.op('Add', [idx, e.op('Cast', [axisSize], { to: e.elemType(indices) })]);
    idx = e.op('Where', [e.op('Less', [idx, e.scalar(0, e.elemType(indices))]), wrapped, idx]);
  }
  idx = e.op('Unsqueeze', [idx, e.ints([-1])]);
  const zerosOf = (shape: string) => e.zerosOfShape(shape, e.elemType(data));

  if (axis === 0) {
    ctx.grad(0, e.op('ScatterND', [zerosOf(e.shapeOf(data)), idx, dy], { reduction: 'add' }));
    return;
  }
  // data [d0..d(a-1), da, ...] -> [da, d0..d(a-1), ...]; dy [d0..d(a-1), i0..i(q-1), ...] -> [i.., d0..d(a-1), ...].
  const perm = [axis, ...Array.from({ length: axis }, (_, i) => i), ...Array.from({ length: r - axis - 1 }, (_, i) => axis + 1 + i)];
  const inverse = perm.map((_, i) => perm.indexOf(i));
  const dyPerm = [
    ...Array.from({ length: q }, (_, i) => axis + i),
    ...Array.from({ length: axis }, (_, i) => i),
    ...Array.from({ length: r - axis - 1 }, (_, i) => axis + q + i),
  ];
  const shapeT = e.op('Gather', [e.shapeOf(data), e.ints(perm)]);
  const dyT = e.op('Transpose', [dy], { perm: dyPerm });
  const scattered = e.op('ScatterND', [zerosOf(shapeT), idx, dyT], { reduction: 'add' });
  ctx.grad(0, e.op('Transpose', [scattered], { perm: inverse }));
};
