import { Flags } from '@oclif/core';
import { PrtiqlError } from '../../shared/errors.js';
import { MIN_MAX_MEMORY, parseByteSize } from './lib/delta/match-memory.js';

/** --max-memory: the peak memory the delta computation of the command may use. */
export const maxMemoryFlag = Flags.custom<number>({
  description:
    'Peak memory for computing deltas, e.g. 1536M or 4G (powers of 1024). Changed files are matched on worker threads within it; a file too large for it is matched in windows. [default: 2G]',
  parse: async (input) => {
    const bytes = parseByteSize(input);
    if (bytes < MIN_MAX_MEMORY) throw new PrtiqlError('E_USAGE', `--max-memory ${input} is below the minimum of ${MIN_MAX_MEMORY / 1024 ** 2}M`);
    return bytes;
  },
})();
