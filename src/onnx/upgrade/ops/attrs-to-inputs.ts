import { attrFloat, attrInts, getAttribute } from '../../attributes.js';
import type { NodeProto } from '../../proto.js';
import type { UpgradeContext } from '../rule.js';

/** Removes the named attributes from a node (in place). */
export function dropAttrs(node: NodeProto, ...names: string[]): void {
  node.attribute = (node.attribute ?? []).filter((a) => !names.includes(a.name ?? ''));
  if (node.attribute.length === 0) delete node.attribute;
}

/**
 * An ints attribute moved to an int64 input (Slice starts, Squeeze axes, Split split...): the
 * attribute's values as an initializer, or '' when the attribute is absent (an omitted optional input).
 */
export function intsInput(node: NodeProto, attr: string, ctx: UpgradeContext): string {
  const values = attrInts(node, attr);
  if (values === undefined) return '';
  return ctx.int64(`${node.name || node.opType}_${attr}`, values);
}

/** A float attribute moved to a scalar float input; '' when absent (the op's default then applies). */
export function floatScalarInput(node: NodeProto, attr: string, ctx: UpgradeContext): string {
  if (!getAttribute(node, attr)) return '';
  return ctx.float(`${node.name || node.opType}_${attr}`, [attrFloat(node, attr, 0)], []);
}

/** Trailing empty optional inputs removed ('' in the middle stays: it marks an omitted input). */
export function trimInputs(inputs: string[]): string[] {
  const out = [...inputs];
  while (out.length && out[out.length - 1] === '') out.pop();
  return out;
}
