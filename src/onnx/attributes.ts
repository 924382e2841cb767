import { AttributeType, type AttributeProto, type GraphProto, type NodeProto, type TensorProto } from './proto.js';
import { toNumber, toNumbers } from './longs.js';

export type AttributeValue = number | string | number[] | string[] | TensorProto | GraphProto | { float: number } | { floats: number[] };

export function getAttribute(node: NodeProto, name: string): AttributeProto | undefined {
  return node.attribute?.find((a) => a.name === name);
}

export function attrInt(node: NodeProto, name: string, fallback: number): number;
export function attrInt(node: NodeProto, name: string): number | undefined;
export function attrInt(node: NodeProto, name: string, fallback?: number): number | undefined {
  const a = getAttribute(node, name);
  return a ? toNumber(a.i) : fallback;
}

export function attrFloat(node: NodeProto, name: string, fallback: number): number;
export function attrFloat(node: NodeProto, name: string): number | undefined;
export function attrFloat(node: NodeProto, name: string, fallback?: number): number | undefined {
  const a = getAttribute(node, name);
  return a ? (a.f ?? 0) : fallback;
}

export function attrInts(node: NodeProto, name: string): number[] | undefined {
  const a = getAttribute(node, name);
  return a ? toNumbers(a.ints ?? []) : undefined;
}

export function attrString(node: NodeProto, name: string): string | undefined {
  const a = getAttribute(node, name);
  return a?.s ? new TextDecoder().decode(a.s) : undefined;
}

export function attrTensor(node: NodeProto, name: string): TensorProto | undefined {
  return getAttribute(node, name)?.t ?? undefined;
}

/**
 * Builds an AttributeProto. JS numbers that are integers become INT; use `{ float: x }` to
 * force FLOAT for an integral float value, and `{ floats: [...] }` for FLOATS.
 */
export function makeAttribute(name: string, value: AttributeValue): AttributeProto {
  if (typeof value === 'number') {
    return Number.isInteger(value) ? { name, type: AttributeType.INT, i: value } : { name, type: AttributeType.FLOAT, f: value };
  }
  if (typeof value === 'string') return { name, type: AttributeType.STRING, s: new TextEncoder().encode(value) };
  if (Array.isArray(value)) {
    if (value.length > 0 && typeof value[0] === 'string') {
      return { name, type: AttributeType.STRINGS, strings: (value as string[]).map((s) => new TextEncoder().encode(s)) };
    }
    const nums = value as number[];
    return nums.every((v) => Number.isInteger(v))
      ? { name, type: AttributeType.INTS, ints: nums }
      : { name, type: AttributeType.FLOATS, floats: nums };
  }
  if ('float' in value) return { name, type: AttributeType.FLOAT, f: value.float };
  if ('floats' in value) return { name, type: AttributeType.FLOATS, floats: value.floats };
  if ('node' in value || 'initializer' in value || 'output' in value) return { name, type: AttributeType.GRAPH, g: value as GraphProto };
  return { name, type: AttributeType.TENSOR, t: value as TensorProto };
}
