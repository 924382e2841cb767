import { existsSync, readFileSync } from 'node:fs';
import { UserError } from '../errors.js';
import type { ModelConfig } from './model-config.js';

/**
 * Maps dataset labels to model output indices. A label is matched by name first (as the model's
 * id2label spells it, then case-insensitively), else read as an integer id ("1" or 1).
 */
export class LabelMap {
  private readonly byName = new Map<string, number>();
  private readonly byLowerName = new Map<string, number>();

  constructor(
    /** Label names by output index. */
    readonly names: readonly string[],
    /** Where the names came from, for messages ("config.json", "--labels", ...). */
    readonly source: string,
  ) {
    names.forEach((n, i) => {
      if (!this.byName.has(n)) this.byName.set(n, i);
      const lower = n.toLowerCase();
      if (!this.byLowerName.has(lower)) this.byLowerName.set(lower, i);
    });
  }

  get size(): number {
    return this.names.length;
  }

  /** Integer labels 0..n-1 named by their ids (a model without id2label). */
  static numeric(n: number, source = 'the model output'): LabelMap {
    return new LabelMap(
      Array.from({ length: n }, (_, i) => String(i)),
      source,
    );
  }

  static fromConfig(config: ModelConfig): LabelMap | undefined {
    return config.id2label ? new LabelMap(config.id2label, config.path) : undefined;
  }

  /**
   * `--labels`: a comma-separated list of names in id order, or a file (JSON list, JSON
   * id2label object, a config.json, or one name per line).
   */
  static fromSpec(spec: string): LabelMap {
    if (existsSync(spec)) {
      const text = readFileSync(spec, 'utf8');
      if (/^\s*[[{]/.test(text)) {
        let v: unknown;
        try {
          v = JSON.parse(text);
        } catch (e) {
          throw new UserError(`${spec}: not valid JSON (${(e as Error).message})`);
        }
        if (v && typeof v === 'object' && !Array.isArray(v) && 'id2label' in v) v = (v as { id2label: unknown }).id2label;
        if (Array.isArray(v)) return new LabelMap(v.map(String), spec);
        if (v && typeof v === 'object') {
          const names: string[] = [];
          for (const [k, name] of Object.entries(v)) {
            if (!/^\d+$/.test(k)) throw new UserError(`${spec}: key "${k}" is not an integer id`);
            names[Number(k)] = String(name);
          }
          for (let i = 0; i < names.length; i++) if (names[i] === undefined) throw new UserError(`${spec}: no label for id ${i}`);
          return new LabelMap(names, spec);
        }
        throw new UserError(`${spec}: expected a list of label names or an id2label object`);
      }
      const names = text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== '');
      if (names.length === 0) throw new UserError(`${spec}: no label names`);
      return new LabelMap(names, spec);
    }
    const names = spec.split(',').map((s) => s.trim());
    if (names.length < 2 || names.some((n) => n === '')) {
      throw new UserError(`--labels "${spec}": expected a file or at least two comma-separated label names`);
    }
    return new LabelMap(names, '--labels');
  }

  /** The output index of a dataset label, or a UserError naming the label, the file and the line. */
  resolve(label: string | number, file: string, line: number): number {
    if (typeof label === 'number') {
      if (Number.isInteger(label) && label >= 0 && label < this.names.length) return label;
      throw this.unknown(String(label), file, line);
    }
    const id = this.byName.get(label) ?? this.byLowerName.get(label.toLowerCase());
    if (id !== undefined) return id;
    if (/^\d+$/.test(label)) {
      const n = Number(label);
      if (n < this.names.length) return n;
    }
    throw this.unknown(label, file, line);
  }

  name(id: number): string {
    return this.names[id] ?? String(id);
  }

  /** True when both maps give the same names to the same indices. */
  sameAs(other: LabelMap): boolean {
    return this.names.length === other.names.length && this.names.every((n, i) => n === other.names[i]);
  }

  private unknown(label: string, file: string, line: number): UserError {
    const shown = this.names.length <= 8 ? this.names.join(', ') : `${this.names.slice(0, 8).join(', ')}, ... (${this.names.length})`;
    return new UserError(`${file}:${line}: label "${label}" is not one the model knows (labels from ${this.source}: ${shown})`);
  }
}
