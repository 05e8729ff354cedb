import { PrtiqlError } from '../../../../shared/errors.js';

export const DEFAULT_TAG = 'latest';

/** An image in an OCI image layout directory, named by its org.opencontainers.image.ref.name. */
export interface OciLayoutReference {
  transport: 'oci';
  path: string;
  /** Absent when the reference names no tag; readers then use DEFAULT_TAG. */
  tag?: string;
}

export type ImageReference = OciLayoutReference;

export const SUPPORTED_REFERENCE_FORMS = ['oci:<path>[:<tag>]'] as const;

/** The ref.name grammar of the OCI image layout spec (annotations.md). */
const REF_NAME_COMPONENT = '[A-Za-z0-9]+(?:(?:[-._:@+]|--)[A-Za-z0-9]+)*';
const REF_NAME_PATTERN = new RegExp(`^${REF_NAME_COMPONENT}(?:/${REF_NAME_COMPONENT})*$`);

export function isValidTag(tag: string): boolean {
  return REF_NAME_PATTERN.test(tag);
}

export function checkTag(tag: string): string {
  if (!isValidTag(tag)) {
    throw new PrtiqlError('E_BAD_REFERENCE', `invalid image tag ${JSON.stringify(tag)}: use letters, digits and . _ - : @ + / between them`);
  }
  return tag;
}

/**
 * Parses `oci:<path>[:<tag>]`. Like skopeo, the path ends at the first ':' after the
 * transport, so a layout path cannot itself contain ':'.
 */
export function parseImageReference(text: string): ImageReference {
  const transportEnd = text.indexOf(':');
  const transport = transportEnd < 0 ? '' : text.slice(0, transportEnd);
  if (transport !== 'oci') {
    throw new PrtiqlError(
      'E_BAD_REFERENCE',
      `unsupported image reference ${JSON.stringify(text)}: supported forms are ${SUPPORTED_REFERENCE_FORMS.join(', ')}`,
    );
  }
  const rest = text.slice(transportEnd + 1);
  const tagStart = rest.indexOf(':');
  const path = tagStart < 0 ? rest : rest.slice(0, tagStart);
  if (!path) throw new PrtiqlError('E_BAD_REFERENCE', `image reference ${JSON.stringify(text)} names no layout path`);
  if (tagStart < 0) return { transport: 'oci', path };
  return { transport: 'oci', path, tag: checkTag(rest.slice(tagStart + 1)) };
}

export function formatImageReference(reference: ImageReference): string {
  return `oci:${reference.path}:${reference.tag ?? DEFAULT_TAG}`;
}

/**
 * The reference a build writes to, from `--output` and an optional `--tag`: the two must
 * agree when both name a tag; with neither, the tag is DEFAULT_TAG.
 */
export function outputReference(output: string, tag: string | undefined): ImageReference {
  const reference = parseImageReference(output);
  if (tag === undefined) return { ...reference, tag: reference.tag ?? DEFAULT_TAG };
  checkTag(tag);
  if (reference.tag !== undefined && reference.tag !== tag) {
    throw new PrtiqlError('E_USAGE', `--tag ${tag} disagrees with the tag ${reference.tag} in --output ${output}; give one tag or the same in both`);
  }
  return { ...reference, tag };
}
