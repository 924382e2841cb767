import { attrFloat } from '../../onnx/index.js';
import { UserError } from '../../errors.js';
import type { GradientRule } from '../registry.js';

/**
 * Dropout. In inference graphs (no training_mode input, or a constant false) it is the
 * identity, and so is its gradient. With a constant training_mode true, dx = dy * mask /
 * (1 - ratio), reading the node's mask output (added when the model did not name it).
 */
export const dropoutGrad: GradientRule = (ctx) => {
  if (!ctx.needs(0)) return;
  const { e, node } = ctx;
  const dy = ctx.dy(0);
  if (!dy) return;
  const modeInput = ctx.input(2);
  const mode = modeInput ? e.constNumbers(modeInput) : [0];
  if (!mode) throw new UserError(`node ${node.name ?? ''} (Dropout): training_mode is not a constant; cannot differentiate it`);
  if (!mode[0]) return ctx.grad(0, dy);
  const ratioInput = ctx.input(1);
  const ratio = ratioInput ? (e.constNumbers(ratioInput)?.[0] ?? NaN) : attrFloat(node, 'ratio', 0.5);
  if (!Number.isFinite(ratio)) throw new UserError(`node ${node.name ?? ''} (Dropout): ratio is not a constant; cannot differentiate it`);
  const x = ctx.input(0);
  const mask = e.op('Cast', [ctx.forwardOutput(1)], { to: e.elemType(x) });
  ctx.grad(0, e.op('Mul', [e.op('Mul', [dy, mask]), e.scalar(1 / (1 - ratio), x)]));
};
