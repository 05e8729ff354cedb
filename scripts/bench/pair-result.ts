import type { Baselines } from './baselines.js';
import type { InstallSection } from './device-install.js';

/** Everything measured for one corpus pair in one run. */
export interface PairResult {
  pair: string;
  newTarBytes: number;
  gzipLayerBytes: number;
  deltaBytes: number;
  deltaBuild: { seconds: number; maxRssKiB: number };
  baselines: Baselines;
  installs: InstallSection;
}

export const smallestBaseline = (result: PairResult) => Math.min(...Object.values(result.baselines).map((tool) => tool.bytes));
