import { attrInt, attrInts } from '../../onnx/index.js';
import type { GradContext } from '../registry.js';

/**
 * What a Reduce* node reduces and how to put its gradient back: ReduceSum reads axes from
 * input 1 from opset 13, the other reductions from opset 18 (an attribute before). Returns the
 * gradient broadcast back to the input's shape, plus the reduced axes when they are known
 * statically (undefined when every axis is reduced or they are a run-time input).
 */
export function expandReducedGradient(ctx: GradContext): { g: string; axes: number[] | undefined; identity: boolean } {
  const { e, node } = ctx;
  const x = ctx.input(0);
  const r = e.rank(x);
  const axesFromInput = node.opType === 'ReduceSum' ? e.opset >= 13 : e.opset >= 18;
  const keepdims = attrInt(node, 'keepdims', 1) !== 0;
  const axesInput = axesFromInput ? ctx.input(1) : '';
  let axes: number[] | undefined = axesFromInput ? (axesInput ? e.constNumbers(axesInput) : []) : (attrInts(node, 'axes') ?? []);
  const dynamicAxes = axesFromInput && !!axesInput && axes === undefined;
  if (axes && axes.length === 0) {
    if (axesFromInput && attrInt(node, 'noop_with_empty_axes', 0)) return { g: ctx.dy()!, axes: [], identity: true };
    axes = Array.from({ length: r }, (_, i) => i);
  }
  axes = axes?.map((a) => (a < 0 ? a + r : a)).sort((a, b) => a - b);
  let g = ctx.dy()!;
  if (!keepdims) {
    if (dynamicAxes) g = e.op('Unsqueeze', [g, axesInput]);
    else if (axes!.length < r) g = e.op('Unsqueeze', [g, e.ints(axes!)]);
    // Reducing every axis without keepdims gives a scalar, which Expand broadcasts as is.
  }
  return { g: e.op('Expand', [g, e.shapeOf(x)]), axes: dynamicAxes ? undefined : axes, identity: false };
}
