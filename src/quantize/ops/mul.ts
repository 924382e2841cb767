import type { StaticQuantizeRule } from '../static/rule.js';
import { binaryQOperator, planBinary } from './add.js';

/** Mul: as Add (see add.ts). */
export const mulRule: StaticQuantizeRule = { opType: 'Mul', plan: planBinary, qoperator: binaryQOperator('QLinearMul') };
