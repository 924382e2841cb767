import { attrInt } from '../../onnx/index.js';
import { scatterAddRows } from '../embedding-rows.js';
import type { GradientRule } from '../registry.js';

/**
 * y = gather(data, indices, axis). The data gradient adds dy back into zeros of data's shape
 * row by row (scatterAddRows: ScatterElements reduction='add', opset 16, exact and
 * deterministic at any thread count, unlike onnxruntime's CPU ScatterND add), so repeated
 * indices sum, as an embedding gradient must; never a one-hot matmul over the vocabulary.
 * Negative indices are wrapped first. The indices are flattened to [K] and dy to
 * [K, ...data dims after the axis]. For axis != 0 (the pooler's first-token Gather) the axis is
 * moved to the front with Transpose, scattered, and moved back. Indices get no gradient.
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
  const zerosOf = (shape: string) => e.zerosOfShape(shape, e.elemType(data));
  // [i0..i(q-1), ...tail] -> [K, ...tail] (tail: the r - 1 dims of data without the axis).
  const flatRows = (g: string) =>
    q === 1 ? g : e.op('Reshape', [g, e.op('Concat', [e.ints([-1]), e.op('Slice', [e.shapeOf(g), e.ints([q]), e.ints([q + r - 1])])], { axis: 0 })]);

  if (axis === 0) {
    ctx.grad(0, scatterAddRows(e, zerosOf(e.shapeOf(data)), idx, flatRows(dy), r - 1));
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
  const scattered = scatterAddRows(e, zerosOf(shapeT), idx, flatRows(dyT), r - 1);
  ctx.grad(0, e.op('Transpose', [scattered], { perm: inverse }));
};
