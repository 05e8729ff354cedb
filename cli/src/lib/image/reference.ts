import { isDigest, type Digest } from '../../../../shared/digest.js';
import { PrtiqlError } from '../../../../shared/errors.js';

export const DEFAULT_TAG = 'latest';

/** An image in an OCI image layout directory, named by its org.opencontainers.image.ref.name. */
export interface OciLayoutReference {
  transport: 'oci';
  path: string;
  /** Absent when the reference names no tag; readers then use DEFAULT_TAG. */
  tag?: string;
}

/** An image in a `docker save` tar file, optionally chosen by one of its RepoTags. */
export interface DockerArchiveReference {
  transport: 'docker-archive';
  path: string;
  /** `repo[:tag]`: which image of the archive to read, or the name to record when writing. */
  name?: string;
}

/** An image in a registry that speaks the OCI distribution API. */
export interface RegistryReference {
  transport: 'docker';
  /** host[:port] as written, e.g. ghcr.io or 127.0.0.1:5000. */
  registry: string;
  /** Repository path, e.g. team/app (docker.io names without a slash get library/). */
  repository: string;
  tag?: string;
  /** When present it wins over the tag. */
  digest?: Digest;
}

export type ImageReference = OciLayoutReference | DockerArchiveReference | RegistryReference;

export const SUPPORTED_REFERENCE_FORMS = [
  'oci:<path>[:<tag>]',
  'docker-archive:<file>[:<repo>:<tag>]',
  'docker://<host>/<repo>[:<tag>|@<digest>]',
] as const;

/** The ref.name grammar of the OCI image layout spec (annotations.md). */
const REF_NAME_COMPONENT = '[A-Za-z0-9]+(?:(?:[-._:@+]|--)[A-Za-z0-9]+)*';
const REF_NAME_PATTERN = new RegExp(`^${REF_NAME_COMPONENT}(?:/${REF_NAME_COMPONENT})*$`);

/** The grammar of github.com/distribution/reference. */
const DOCKER_TAG_PATTERN = /^[\w][\w.-]{0,127}$/;
const DOCKER_PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const DOCKER_HOST_PATTERN = /^(?:(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])(?:\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))*|\[[0-9a-fA-F:.]+\])(?::[0-9]+)?$/;
const DOCKER_HUB = 'docker.io';
const DOCKER_HUB_ALIASES: ReadonlySet<string> = new Set([DOCKER_HUB, 'index.docker.io', 'registry-1.docker.io']);

function badReference(text: string, problem: string): never {
  throw new PrtiqlError('E_BAD_REFERENCE', `image reference ${JSON.stringify(text)} ${problem} (forms: ${SUPPORTED_REFERENCE_FORMS.join(', ')})`);
}

export function isValidTag(tag: string): boolean {
  return REF_NAME_PATTERN.test(tag);
}

export function checkTag(tag: string): string {
  if (!isValidTag(tag)) {
    throw new PrtiqlError('E_BAD_REFERENCE', `invalid image tag ${JSON.stringify(tag)}: use letters, digits and . _ - : @ + / between them`);
  }
  return tag;
}

/** Whether the first path component of a docker reference names a registry host (as docker decides it). */
function looksLikeHost(component: string): boolean {
  return component.includes('.') || component.includes(':') || component.startsWith('[') || component === 'localhost';
}

/**
 * `<host>/<repo>[:<tag>][@sha256:<hex>]`. Unlike docker, the host is required: a bare
 * `alpine` would silently mean Docker Hub, so it is refused with a hint to spell it out.
 */
function parseRegistryReference(text: string, rest: string): RegistryReference {
  const at = rest.indexOf('@');
  const name = at < 0 ? rest : rest.slice(0, at);
  let digest: Digest | undefined;
  if (at >= 0) {
    const value = rest.slice(at + 1);
    if (!isDigest(value)) badReference(text, `has an invalid digest ${JSON.stringify(value)} (sha256:<64 hex digits>)`);
    digest = value;
  }
  const slash = name.indexOf('/');
  const registry = slash < 0 ? '' : name.slice(0, slash);
  if (!looksLikeHost(registry)) {
    badReference(text, `names no registry host: write it out, e.g. docker://docker.io/library/${name || 'alpine'}`);
  }
  if (!DOCKER_HOST_PATTERN.test(registry)) badReference(text, `has an invalid registry host ${JSON.stringify(registry)}`);
  let path = name.slice(slash + 1);
  let tag: string | undefined;
  const colon = path.lastIndexOf(':');
  if (colon >= 0) {
    tag = path.slice(colon + 1);
    path = path.slice(0, colon);
    if (!DOCKER_TAG_PATTERN.test(tag)) badReference(text, `has an invalid tag ${JSON.stringify(tag)}`);
  }
  if (!path || !path.split('/').every((component) => DOCKER_PATH_COMPONENT.test(component))) {
    badReference(text, `has an invalid repository ${JSON.stringify(path)}: lowercase letters, digits and . _ - between them, / between parts`);
  }
  const repository = DOCKER_HUB_ALIASES.has(registry) && !path.includes('/') ? `library/${path}` : path;
  return {
    transport: 'docker',
    registry: DOCKER_HUB_ALIASES.has(registry) ? DOCKER_HUB : registry,
    repository,
    ...(tag !== undefined && { tag }),
    ...(digest !== undefined && { digest }),
  };
}

/** `<file>[:<repo>[:<tag>]]`: like skopeo, the path ends at the first ':'. */
function parseDockerArchiveReference(text: string, rest: string): DockerArchiveReference {
  const colon = rest.indexOf(':');
  const path = colon < 0 ? rest : rest.slice(0, colon);
  if (!path) badReference(text, 'names no archive file');
  if (colon < 0) return { transport: 'docker-archive', path };
  const name = rest.slice(colon + 1);
  const tagStart = name.lastIndexOf(':');
  const hasTag = tagStart > name.lastIndexOf('/');
  const repository = hasTag ? name.slice(0, tagStart) : name;
  const tag = hasTag ? name.slice(tagStart + 1) : undefined;
  const [first, ...others] = repository.split('/');
  const validRepository = (looksLikeHost(first) && others.length > 0 ? others : [first, ...others]).every((part) => DOCKER_PATH_COMPONENT.test(part));
  if (!validRepository || (tag !== undefined && !DOCKER_TAG_PATTERN.test(tag))) {
    badReference(text, `has an invalid image name ${JSON.stringify(name)}: expected <repo>[:<tag>]`);
  }
  return { transport: 'docker-archive', path, name: tag === undefined ? `${repository}:${DEFAULT_TAG}` : name };
}

/**
 * Parses a skopeo-style reference: `oci:<path>[:<tag>]`, `docker-archive:<file>[:<repo>:<tag>]`
 * or `docker://<host>/<repo>[:<tag>|@<digest>]`. Like skopeo, a layout or archive path ends at
 * the first ':' after the transport, so it cannot itself contain ':'.
 */
export function parseImageReference(text: string): ImageReference {
  if (text.startsWith('docker://')) return parseRegistryReference(text, text.slice('docker://'.length));
  const transportEnd = text.indexOf(':');
  const transport = transportEnd < 0 ? '' : text.slice(0, transportEnd);
  const rest = text.slice(transportEnd + 1);
  if (transport === 'docker-archive') return parseDockerArchiveReference(text, rest);
  if (transport !== 'oci') badReference(text, 'has an unsupported transport');
  const tagStart = rest.indexOf(':');
  const path = tagStart < 0 ? rest : rest.slice(0, tagStart);
  if (!path) badReference(text, 'names no layout path');
  if (tagStart < 0) return { transport: 'oci', path };
  return { transport: 'oci', path, tag: checkTag(rest.slice(tagStart + 1)) };
}

export function formatImageReference(reference: ImageReference): string {
  switch (reference.transport) {
    case 'oci':
      return `oci:${reference.path}:${reference.tag ?? DEFAULT_TAG}`;
    case 'docker-archive':
      return reference.name === undefined ? `docker-archive:${reference.path}` : `docker-archive:${reference.path}:${reference.name}`;
    case 'docker': {
      const tag = reference.tag ?? (reference.digest ? undefined : DEFAULT_TAG);
      return `docker://${reference.registry}/${reference.repository}${tag ? `:${tag}` : ''}${reference.digest ? `@${reference.digest}` : ''}`;
    }
  }
}

/**
 * The reference an image is written to, from an output reference and an optional `--tag`:
 * the two must agree when both name a tag; with neither, the tag is DEFAULT_TAG. Outputs
 * name no digest (the digest follows from the bytes), and a docker-archive carries its
 * name after the file, not in --tag.
 */
export function outputReference(output: string, tag?: string): ImageReference {
  const reference = parseImageReference(output);
  if (reference.transport === 'docker-archive') {
    if (tag !== undefined) throw new PrtiqlError('E_USAGE', `--tag does not apply to ${output}: name the image after the file, docker-archive:<file>:<repo>:<tag>`);
    return reference;
  }
  if (reference.transport === 'docker' && reference.digest) {
    throw new PrtiqlError('E_BAD_REFERENCE', `cannot write to ${output}: an output names a tag, not a digest`);
  }
  if (tag === undefined) return { ...reference, tag: reference.tag ?? DEFAULT_TAG };
  if (reference.transport === 'oci') checkTag(tag);
  else if (!DOCKER_TAG_PATTERN.test(tag)) throw new PrtiqlError('E_BAD_REFERENCE', `invalid registry tag ${JSON.stringify(tag)}`);
  if (reference.tag !== undefined && reference.tag !== tag) {
    throw new PrtiqlError('E_USAGE', `--tag ${tag} disagrees with the tag ${reference.tag} in --output ${output}; give one tag or the same in both`);
  }
  return { ...reference, tag };
}
