import type { LayerMeta, SkeletonSegment } from '../../../shared/layer-meta.js';
import { lastStartAtOrBefore } from '../../../shared/last-start.js';

/** A stretch of a layer's tar: skeleton bytes from `skeletonOffset`, or a file's content from `offset`. */
export type TarStretch = { length: number } & ({ skeletonOffset: number } | { path: string; size: number; offset: number });

/**
 * Where each entry of a layer lies in its tar, which is every entry's skeleton segment followed
 * by its content, then the tail's segment. One number per entry: a layer of thousands of files
 * would otherwise hold thousands of small objects through a whole delta apply.
 */
export class TarLayout {
  private readonly starts: Float64Array;

  constructor(private readonly meta: LayerMeta) {
    const { entries } = meta;
    this.starts = new Float64Array(entries.length + 1);
    let position = 0;
    for (const [i, entry] of entries.entries()) {
      this.starts[i] = position;
      position += entry.segmentLength + entry.size;
    }
    this.starts[entries.length] = position;
  }

  /** The stretch at `position` (below the tar's size), up to where its kind of bytes ends. */
  stretchAt(position: number): TarStretch {
    // the tail is entry entries.length
    const i = lastStartAtOrBefore(this.starts, position);
    const entry = this.meta.entries[i];
    const segment: SkeletonSegment = entry ?? this.meta.tail;
    const within = position - this.starts[i]!;
    if (within < segment.segmentLength) return { skeletonOffset: segment.segmentOffset + within, length: segment.segmentLength - within };
    const offset = within - segment.segmentLength;
    return { path: entry!.path, size: entry!.size, offset, length: entry!.size - offset };
  }
}
