import { attrInt, type NodeProto } from '../../onnx/index.js';
import type { GradContext } from '../registry.js';

/**
 * Softmax/LogSoftmax before opset 13 flatten the input to 2-D at `axis` (default 1) and
 * normalise over everything from `axis` on; from opset 13 they normalise along one axis
 * (default -1). Both agree when the axis is the last one. For the old semantics on an inner
 * axis, the rule works on the flattened view: this returns how.
 */
export function softmaxAxis(ctx: GradContext, node: NodeProto): { axis: number; flatten: boolean } {
  const r = ctx.e.rank(ctx.output(0));
  const opset = ctx.e.opset;
  let axis = attrInt(node, 'axis', opset >= 13 ? -1 : 1);
  if (axis < 0) axis += r;
  return { axis, flatten: opset < 13 && axis !== r - 1 };
}

/** Runs `body` on (dy, y) along `axis`, flattening first for the pre-13 semantics. */
export function alongSoftmaxAxis(ctx: GradContext, body: (dy: string, y: string, axis: number) => string): string {
  const { e } = ctx;
  const { axis, flatten } = softmaxAxis(ctx, ctx.node);
  const y = ctx.output(0);
  if (!flatten) return body(ctx.dy()!, y, axis);
  const dy2 = e.op('Flatten', [ctx.dy()!], { axis });
  const y2 = e.op('Flatten', [y], { axis });
  return e.op('Reshape', [body(dy2, y2, 1), e.shapeOf(y)]);
}
