import { smallestBaseline, type PairResult } from './pair-result.js';

/** `prtiql delta`'s default --max-memory: its peak RSS must stay within it. */
export const BUILD_MEMORY_BUDGET_KIB = 2 * 1024 * 1024;
export const DEVICE_RSS_LIMIT_KIB = 64 * 1024;

/** Pairs that must beat the best tool by a factor, and pairs with an absolute size target. */
const BEYOND_TOOLS: Record<string, number> = { 'native-large': 1.5, 'node18-runtime': 1.5 };
const SIZE_TARGET_BYTES: Record<string, number> = { 'os-base': 2_000_000, 'app-js': 6_500 };

export interface Goal {
  label: string;
  /** undefined: the goal does not apply to this pair. */
  met(result: PairResult): boolean | undefined;
}

export const GOALS: Goal[] = [
  { label: 'delta ≤ smallest tool', met: (r) => r.deltaBytes <= smallestBaseline(r) },
  {
    label: 'delta ≥ 1.5x smaller than best tool (native-large, node18-runtime)',
    met: (r) => (r.pair in BEYOND_TOOLS ? r.deltaBytes * BEYOND_TOOLS[r.pair]! <= smallestBaseline(r) : undefined),
  },
  { label: 'os-base ≤ 2.0 MB, app-js ≤ 6.5 KB', met: (r) => (r.pair in SIZE_TARGET_BYTES ? r.deltaBytes <= SIZE_TARGET_BYTES[r.pair]! : undefined) },
  { label: 'build time ≤ 2x zstd', met: (r) => r.deltaBuild.seconds <= 2 * r.baselines.zstd.seconds },
  { label: 'build peak RSS ≤ 2 GiB (--max-memory default)', met: (r) => r.deltaBuild.maxRssKiB <= BUILD_MEMORY_BUDGET_KIB },
  { label: 'device used the delta', met: (r) => r.installs.delta.via === 'delta' },
  { label: 'delta install peak RSS ≤ 64 MiB', met: (r) => r.installs.delta.maxRssKiB <= DEVICE_RSS_LIMIT_KIB },
  { label: 'full install peak RSS ≤ 64 MiB', met: (r) => r.installs.full.maxRssKiB <= DEVICE_RSS_LIMIT_KIB },
  { label: 'full install ≤ 1.3x gunzip | tar | sync', met: (r) => r.installs.full.seconds <= 1.3 * r.installs.gunzipTar.seconds },
  { label: 'delta install ≤ full install', met: (r) => r.installs.delta.seconds <= r.installs.full.seconds },
];

/** The goals a pair misses. */
export const missedGoals = (result: PairResult) => GOALS.filter((goal) => goal.met(result) === false);
