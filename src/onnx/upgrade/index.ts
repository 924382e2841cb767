import { getAttribute } from '../attributes.js';
import { NameAllocator, opsetVersion, valueInfoMap, valueElemType, valueShape } from '../graph.js';
import type { GraphProto, ModelProto, NodeProto, TensorProto } from '../proto.js';
import { toNumber } from '../longs.js';
import { makeTensor, tensorDims } from '../tensor.js';
import { unchangedOps } from './compatible.js';
import { opUpgrades } from './registry.js';
import type { UpgradeContext } from './rule.js';

export type { OpUpgrade, UpgradeContext, UpgradeStep } from './rule.js';
export { opUpgrades } from './registry.js';
export { unchangedOps } from './compatible.js';

/** Oldest and newest default-domain opsets the registry covers. */
export const UPGRADE_MIN_OPSET = 7;
export const UPGRADE_MAX_OPSET = 18;

/** IR version each opset first shipped with (ONNX 1.2 .. 1.13): an upgraded model declares at least this. */
const irForOpset: Record<number, number> = { 7: 3, 8: 3, 9: 4, 10: 5, 11: 6, 12: 7, 13: 7, 14: 7, 15: 8, 16: 8, 17: 8, 18: 8 };

export interface OpsetUpgrade {
  from: number;
  to: number;
  /** Nodes rewritten (their op's schema changed between from and to), by op type. */
  rewritten: Record<string, number>;
}

/** Why a model cannot be upgraded: the first node that blocks it. */
export interface UpgradeRefusal {
  from: number;
  to: number;
  node: string;
  opType: string;
  reason: string;
}

export interface UpgradeOptions {
  /** Rank of a value when the graph's value_info does not say (e.g. from a shape probe). */
  rankOf?: (name: string) => number | undefined;
}

/**
 * The model with its default-domain opset raised to `target`, each node rewritten for the
 * schema changes between (Slice attributes to inputs at 10, Clip at 11, Squeeze at 13, ...).
 * The input model is not modified. Returns a refusal naming the op that blocks the upgrade
 * (an op we have no rule for, or a form the rule cannot carry) instead of a half-upgraded model.
 */
export function upgradeOpset(model: ModelProto, target: number, opts: UpgradeOptions = {}): { model: ModelProto; upgrade: OpsetUpgrade } | { refusal: UpgradeRefusal } {
  const from = opsetVersion(model, '') ?? 1;
  const refuse = (node: string, opType: string, reason: string) => ({ refusal: { from, to: target, node, opType, reason } });
  if (target <= from) return { model, upgrade: { from, to: from, rewritten: {} } };
  if (from < UPGRADE_MIN_OPSET) return refuse('', '', `opset ${from} is older than ${UPGRADE_MIN_OPSET}, the oldest this converter reads`);
  if (target > UPGRADE_MAX_OPSET) return refuse('', '', `opset ${target} is newer than ${UPGRADE_MAX_OPSET}, the newest this converter writes`);
  // Function bodies import the model's opset too; rewriting them is not done here.
  const fn = (model.functions ?? [])[0];
  if (fn) return refuse('', '', `model-local function ${fn.domain ? `${fn.domain}.` : ''}${fn.name} would change meaning (functions are not converted)`);

  const graph = model.graph!;
  const names = new NameAllocator(graph);
  const added: TensorProto[] = [];
  const constants = new Map<string, TensorProto>((graph.initializer ?? []).map((t) => [t.name ?? '', t]));
  for (const n of graph.node ?? []) {
    const t = n.opType === 'Constant' ? getAttribute(n, 'value')?.t : undefined;
    if (t) constants.set(n.output![0]!, t);
  }
  const infos = valueInfoMap(graph);
  const read = new Set<string>((graph.output ?? []).map((o) => o.name ?? ''));
  const collectReads = (g: GraphProto) => {
    for (const n of g.node ?? []) {
      for (const i of n.input ?? []) read.add(i);
      for (const a of n.attribute ?? []) for (const sg of [a.g, ...(a.graphs ?? [])]) if (sg) collectReads(sg);
    }
  };
  collectReads(graph);
  const ctx: UpgradeContext = {
    int64: (base, values, dims) => add(makeTensor(names.take(base), BigInt64Array.from(values.map(BigInt)), dims ?? [values.length])),
    float: (base, values, dims) => add(makeTensor(names.take(base), Float32Array.from(values), dims ?? [values.length])),
    fresh: (base) => names.take(base),
    constant: (name) => constants.get(name),
    rankOf: (name) => {
      const t = constants.get(name);
      if (t) return tensorDims(t).length;
      return valueShape(infos.get(name))?.length ?? opts.rankOf?.(name);
    },
    elemTypeOf: (name) => constants.get(name)?.dataType ?? valueElemType(infos.get(name)),
    isRead: (name) => read.has(name),
  };
  function add(t: TensorProto): string {
    added.push(t);
    return t.name!;
  }

  const rewritten: Record<string, number> = {};
  // Nodes are copied before a step edits them: the input model stays as it was.
  const upgradeGraph = (g: GraphProto): GraphProto | ReturnType<typeof refuse> => {
    const out: NodeProto[] = [];
    for (const [index, original] of (g.node ?? []).entries()) {
      let node: NodeProto = { ...original, input: [...(original.input ?? [])], output: [...(original.output ?? [])] };
      if (original.attribute) node.attribute = [...original.attribute];
      if (node.attribute?.some((a) => a.g || a.graphs?.length)) {
        const attribute = [];
        for (const a of node.attribute) {
          if (!a.g && !a.graphs?.length) {
            attribute.push(a);
            continue;
          }
          const sub = a.g ? upgradeGraph(a.g) : undefined;
          if (sub && 'refusal' in sub) return sub;
          const subs = [];
          for (const sg of a.graphs ?? []) {
            const r = upgradeGraph(sg);
            if ('refusal' in r) return r;
            subs.push(r);
          }
          attribute.push({ ...a, ...(sub ? { g: sub } : {}), ...(a.graphs?.length ? { graphs: subs } : {}) });
        }
        node = { ...node, attribute };
      }
      if (node.domain && node.domain !== 'ai.onnx') {
        out.push(node);
        continue;
      }
      const label = node.name || `#${index}`;
      let current: NodeProto[] = [node];
      let version = from;
      for (;;) {
        // Only a single node can be upgraded further (a rewrite into several nodes is final).
        const rule = current.length === 1 ? opUpgrades.get(current[0]!.opType ?? '') : undefined;
        const step = rule?.steps.find((s) => s.version > version && s.version <= target);
        if (!step) break;
        const opType = current[0]!.opType!;
        const result = step.upgrade(current[0]!, ctx);
        if ('refuse' in result) return refuse(label, opType, `${result.refuse} (changed at opset ${step.version})`);
        if (version === from) rewritten[opType] = (rewritten[opType] ?? 0) + 1;
        current = result;
        version = step.version;
      }
      for (const n of current) {
        if (!opUpgrades.has(n.opType ?? '') && !unchangedOps.has(n.opType ?? '')) {
          return refuse(label, n.opType ?? '', `no rule for ${n.opType} from opset ${from} to ${target}`);
        }
      }
      out.push(...current);
    }
    return { ...g, node: out };
  };
  const upgraded = upgradeGraph(graph);
  if ('refusal' in upgraded) return upgraded;
  upgraded.initializer = [...(graph.initializer ?? []), ...added];
  const opsetImport = (model.opsetImport ?? []).map((o) => (!o.domain || o.domain === 'ai.onnx' ? { ...o, version: target } : o));
  const irVersion = Math.max(toNumber(model.irVersion), irForOpset[target] ?? 8);
  return { model: { ...model, irVersion, opsetImport, graph: upgraded }, upgrade: { from, to: target, rewritten } };
}

