import type { UpdateCheck } from '../update/check.js';

function size(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(1)} ${units[unit]}`;
}

/** `update --check` for a person: one line per layer, then the total against the full layers. */
export function describeUpdateCheck(check: UpdateCheck): string {
  const installed = check.installed ? `version ${check.installed.version}` : 'nothing';
  if (check.upToDate) return `channel ${check.channel}: ${installed} installed, the newest; nothing to fetch`;
  const platform = check.available.platform ? ` for ${check.available.platform}` : '';
  const lines = [`channel ${check.channel}: ${installed} installed, version ${check.available.version} available${platform} (${check.available.manifest})`];
  check.layers.forEach((layer, index) => {
    const what =
      layer.via === 'present'
        ? 'present'
        : `${layer.via.padEnd(5)} ${size(layer.download)} to download${layer.staged > 0 ? `, ${size(layer.staged)} already staged` : ''} (full layer ${size(layer.fullSize)})`;
    lines.push(`  layer ${index + 1}/${check.layers.length} ${layer.diffID}  ${what}`);
  });
  const share = check.fullSize === 0 ? '' : ` (${((100 * check.download) / check.fullSize).toFixed(1)}%)`;
  lines.push(`to download: ${size(check.download)} (${check.download} bytes) of ${size(check.fullSize)} in full${share}`);
  return lines.join('\n');
}
