/** Installs the missing `packages` (name → what it provides) as root, else names them; returns those still missing. */
export function ensureDebianPackages(packages: Record<string, string>, purpose: string): string[];
