import type { NodeProto, TensorProto } from '../proto.js';

/** What an upgrade step may use: constants, fresh names, what is known about values. */
export interface UpgradeContext {
  /** Adds an int64 initializer (under a fresh name derived from `base`) and returns its name. */
  int64(base: string, values: readonly number[], dims?: readonly number[]): string;
  /** Adds a float32 initializer and returns its name. */
  float(base: string, values: readonly number[], dims?: readonly number[]): string;
  /** A fresh value or node name. */
  fresh(base: string): string;
  /** The value of a constant (initializer or Constant node), else undefined. */
  constant(name: string): TensorProto | undefined;
  /** Rank of a value when known (value_info, graph inputs, initializers), else undefined. */
  rankOf(name: string): number | undefined;
  /** Element type of a value when known, else undefined. */
  elemTypeOf(name: string): number | undefined;
  /** Whether any node or graph output reads `name`. */
  isRead(name: string): boolean;
}

/**
 * The rewrite of one node from the op's form before `version` to its form at `version`:
 * the nodes that replace it (usually the node itself, edited), or why it cannot be upgraded.
 */
export type UpgradeStep = (node: NodeProto, ctx: UpgradeContext) => NodeProto[] | { refuse: string };

/** How one op type changed across opsets: one step per version whose schema broke the old form. */
export interface OpUpgrade {
  readonly opType: string;
  readonly steps: ReadonlyArray<{ version: number; upgrade: UpgradeStep }>;
}
