import { pipeline, Readable } from 'node:stream';
import { readCapped } from '../../../../shared/capped-read.js';
import { sha256Digest, sha256Hex, type Digest } from '../../../../shared/digest.js';
import { parseEnvelope } from '../../../../shared/dsse.js';
import { isPrtiqlError, PrtiqlError } from '../../../../shared/errors.js';
import { MAX_DOCUMENT_BYTES } from '../../../../shared/limits.js';
import { MediaType, type Descriptor, type ImageManifest } from '../../../../shared/oci.js';
import { parseIndex, parseJson } from '../../../../shared/oci-json.js';
import {
  ANNOTATION_DELTA_BASE,
  ANNOTATION_DOCUMENT,
  DELTA_RECORD_TYPE,
  documentArtifact,
  documentLayer,
  EMPTY_CONFIG,
  EMPTY_CONFIG_BYTES,
  referrersTag,
  releaseImageTag,
} from '../../../../shared/registry-artifacts.js';
import { repositoryScope } from '../../../../shared/registry-auth-protocol.js';
import { parseRelease, releaseImages, type ReleaseDelta, type ReleaseDescriptor } from '../../../../shared/release.js';
import { documentPath, parseDocumentPath, type StoreDocument } from '../../../../shared/store-layout.js';
import { VerifyingStream } from '../../../../shared/verify-stream.js';
import { silentProgress } from '../../progress.js';
import type { DeltaRecord } from '../delta/delta-record.js';
import type { RegistryReference } from '../image/reference.js';
import { pushBlob } from '../registry/blob-upload.js';
import { MANIFEST_ACCEPT, RegistryClient, type RegistryOptions } from '../registry/registry-client.js';
import { openBlobSource, type ArtifactStore, type BlobOrigin, type BlobSource } from './artifact-store.js';
import { addFallbackReferrer, isContention, listReferrers } from './registry-referrers.js';

type DeltaRecordDocument = Extract<StoreDocument, { kind: 'delta-record' }>;

/**
 * The tag that also names a delta record: the sha256 of its path (the path is too long for a
 * tag). Fallback referrers indexes are updated read-modify-write and can lose an entry to a
 * concurrent writer (CI jobs writing records for one target at once); the tag cannot.
 */
function deltaRecordTag(record: DeltaRecordDocument): string {
  return `_${sha256Hex(documentPath(record))}`;
}

interface ArtifactToPush {
  artifactType: string;
  document: Buffer;
  documentMediaType: string;
  /** Blobs the artifact holds besides the document (the delta blobs of a delta record). */
  otherLayers?: Descriptor[];
  subject?: ReleaseDescriptor;
  annotations: Record<string, string>;
  tag?: string;
}

function parseJsonDocument<T>(bytes: Uint8Array, what: string): T {
  try {
    return JSON.parse(Buffer.from(bytes).toString('utf8')) as T;
  } catch {
    throw new PrtiqlError('E_INTERNAL', `${what} is not valid JSON`);
  }
}

/** The distinct delta blobs of `deltas`, as artifact layers: an artifact keeps its layers through garbage collection. */
function deltaBlobLayers(deltas: readonly ReleaseDelta[]): Descriptor[] {
  const blobs = new Map(deltas.map(({ blob }) => [blob.digest, { mediaType: blob.mediaType, digest: blob.digest, size: blob.size }]));
  return [...blobs.values()];
}

/**
 * An artifact store in a repository of an OCI registry (docs/artifact-store.md). Blobs are the
 * repository's blobs; the images a release names are pushed as normal images (manifests by
 * digest, an index for several platforms); documents are OCI artifacts: named documents
 * under tags (the signed release under the channel's name, with the target image as subject;
 * shared/registry-artifacts.ts names the others), delta records as artifacts referring to
 * their target image, found through the referrers API or its `sha256-<hex>` tag fallback, and
 * under a tag of their own.
 */
export class RegistryStore implements ArtifactStore {
  readonly location: string;
  private readonly client: RegistryClient;
  private readonly registry: string;
  private readonly repository: string;
  private readonly pullScopes: string[];
  private readonly pushScopes: string[];
  private readonly deleteScopes: string[];

  constructor(reference: RegistryReference, options: RegistryOptions = {}) {
    this.client = new RegistryClient(reference.registry, options);
    this.registry = reference.registry;
    this.repository = reference.repository;
    this.location = `docker://${reference.registry}/${reference.repository}`;
    this.pullScopes = [repositoryScope(reference.repository, 'pull')];
    this.pushScopes = [repositoryScope(reference.repository, 'pull,push')];
    this.deleteScopes = [repositoryScope(reference.repository, 'pull,push,delete')];
  }

  documentLocation(document: StoreDocument): string {
    if (document.kind === 'delta-record') return `${this.location} (delta record ${document.base} -> ${document.target})`;
    return `${this.location}:${documentArtifact(document).tag}`;
  }

  hasBlob(digest: Digest): Promise<boolean> {
    return this.client.hasBlob(this.repository, digest, this.pullScopes);
  }

  /**
   * Uploads a blob the repository lacks (HEAD first), verified on its way: more bytes than
   * declared or a wrong digest fail the upload, which the registry then discards (it checks the
   * digest too), so no wrong bytes are ever stored under the name. A blob another repository
   * of this registry holds (`origin`) is mounted from there, without its bytes. A source that
   * can be opened again lets a transiently failed upload start over.
   */
  async putBlob(digest: Digest, size: number, source: BlobSource, origin?: BlobOrigin): Promise<boolean> {
    const what = `blob ${digest}`;
    const open = async () => pipeline(Readable.from(await openBlobSource(source)), new VerifyingStream({ digest, size }, what), () => undefined);
    const mountFrom = origin && origin.registry === this.registry && origin.repository !== this.repository ? origin.repository : undefined;
    const scopes = mountFrom ? [...this.pushScopes, repositoryScope(mountFrom, 'pull')] : this.pushScopes;
    try {
      const outcome = await pushBlob(this.client, this.repository, { digest, size, open, openOnce: typeof source !== 'function' }, { scopes, mountFrom, progress: (total) => silentProgress(what, total) });
      return outcome !== 'skipped';
    } catch (error) {
      // A dropped connection only names the server: say what was being uploaded.
      if (error instanceof PrtiqlError && error.code === 'E_NETWORK' && !error.message.includes(digest)) {
        throw new PrtiqlError(error.code, `uploading ${what} to ${this.location}: ${error.message}`, { cause: error });
      }
      throw error;
    }
  }

  async getBlob(digest: Digest): Promise<Readable> {
    const what = `checking for blob ${digest} in ${this.location}`;
    const response = await this.client.request(this.client.url(`/v2/${this.repository}/blobs/${digest}`), { method: 'HEAD', scopes: this.pullScopes, what }, [200, 404]);
    await response.body.dump();
    if (response.statusCode === 404) throw new PrtiqlError('E_NOT_FOUND', `blob ${digest} is not in the store ${this.location}`);
    const size = Number(response.headers['content-length']);
    if (!Number.isSafeInteger(size) || size < 0) throw new PrtiqlError('E_BAD_INPUT', `${what}: the registry sent no valid Content-Length`);
    return this.client.openBlob(this.repository, { digest, size }, this.pullScopes);
  }

  async readDocument(document: StoreDocument): Promise<Buffer | undefined> {
    if (document.kind !== 'delta-record') {
      const artifact = documentArtifact(document);
      const manifest = await this.manifestIfAny(artifact.tag);
      return manifest && this.readDocumentLayer(manifest, artifact.artifactType, this.documentLocation(document));
    }
    const newest = (await this.deltaRecordReferrers(document.target)).filter((descriptor) => descriptor.annotations?.[ANNOTATION_DELTA_BASE] === document.base).at(-1);
    // A fallback referrers index may still list a record that was deleted (`prtiql prune`): the tag decides then.
    const manifest = (newest && (await this.manifestIfAny(newest.digest))) ?? (await this.manifestIfAny(deltaRecordTag(document)));
    return manifest && this.readDocumentLayer(manifest, DELTA_RECORD_TYPE, this.documentLocation(document));
  }

  /** The delta records referring to `target`; none while other writers contend for its fallback index (the records' own tags still hold). */
  private async deltaRecordReferrers(target: Digest): Promise<Descriptor[]> {
    try {
      return await listReferrers(this.client, this.repository, target, DELTA_RECORD_TYPE, this.pullScopes);
    } catch (error) {
      if (isContention(error)) return [];
      throw error;
    }
  }

  /**
   * Pushes a document as an artifact. The signed release first gets its images pushed as
   * images (their manifests were uploaded as blobs; an index after the manifests it names),
   * then becomes the artifact tagged with the channel's name, whose subject is the image: the
   * tag is the channel pointer, written last.
   */
  async writeDocument(document: StoreDocument, bytes: Uint8Array): Promise<void> {
    const content = Buffer.from(bytes);
    const annotations = { [ANNOTATION_DOCUMENT]: documentPath(document) };
    if (document.kind !== 'delta-record') {
      const artifact = documentArtifact(document);
      const released = document.kind === 'release' ? await this.pushReleaseImages(content, document) : undefined;
      await this.pushArtifact({
        artifactType: artifact.artifactType,
        document: content,
        documentMediaType: artifact.layerMediaType,
        otherLayers: released?.deltaBlobs,
        subject: released?.subject,
        annotations,
        tag: artifact.tag,
      });
      return;
    }
    const record = parseJsonDocument<DeltaRecord>(content, `delta record ${document.base} -> ${document.target}`);
    await this.pushArtifact({
      artifactType: DELTA_RECORD_TYPE,
      document: content,
      documentMediaType: DELTA_RECORD_TYPE,
      otherLayers: deltaBlobLayers(record.deltas),
      subject: record.targetManifest,
      annotations: { ...annotations, [ANNOTATION_DELTA_BASE]: document.base },
      tag: deltaRecordTag(document),
    });
  }

  /**
   * Pushes the manifests (and index) a signed release names as images, each under its release
   * image tag (shared/registry-artifacts.ts), so that garbage collection of untagged manifests
   * keeps them. Returns the release artifact's subject, and the delta blobs it lists as layers:
   * the channel tag then keeps every blob a device needs besides the images'.
   */
  private async pushReleaseImages(envelopeBytes: Buffer, document: StoreDocument): Promise<{ subject: ReleaseDescriptor; deltaBlobs: Descriptor[] }> {
    const what = `the release written to ${this.documentLocation(document)}`;
    const envelope = parseEnvelope(parseJsonDocument<unknown>(envelopeBytes, what), what);
    const release = parseRelease(parseJsonDocument<unknown>(Buffer.from(envelope.payload, 'base64'), `${what} payload`));
    const images = releaseImages(release);
    for (const image of images) {
      const manifest = await this.pushManifestFromBlob(image.manifest);
      await this.putManifest(releaseImageTag(release.channel, release.version, release.index && image.platform), manifest, image.manifest.mediaType);
    }
    if (release.index) {
      const index = await this.pushManifestFromBlob(release.index);
      await this.putManifest(releaseImageTag(release.channel, release.version), index, release.index.mediaType);
    }
    return { subject: release.index ?? release.manifest, deltaBlobs: deltaBlobLayers(images.flatMap((image) => image.deltas)) };
  }

  /** Stores a manifest the release uploaded as a blob under its digest, unless it is there; returns its bytes. */
  private async pushManifestFromBlob(descriptor: ReleaseDescriptor): Promise<Buffer> {
    const what = `manifest ${descriptor.digest} in ${this.location}`;
    if (descriptor.size > MAX_DOCUMENT_BYTES) throw new PrtiqlError('E_TOO_LARGE', `${what} is larger than ${MAX_DOCUMENT_BYTES} bytes`);
    const bytes = await readCapped(await this.client.openBlob(this.repository, descriptor, this.pullScopes), MAX_DOCUMENT_BYTES, what);
    if (!(await this.hasManifest(descriptor.digest))) await this.putManifest(descriptor.digest, bytes, descriptor.mediaType);
    return bytes;
  }

  private async hasManifest(digest: Digest): Promise<boolean> {
    const what = `checking for manifest ${digest} in ${this.location}`;
    const target = this.client.url(`/v2/${this.repository}/manifests/${digest}`);
    const response = await this.client.request(target, { method: 'HEAD', scopes: this.pullScopes, what, headers: { accept: MANIFEST_ACCEPT } }, [200, 404]);
    await response.body.dump();
    return response.statusCode === 200;
  }

  /** PUTs a manifest; true when the registry says it indexed the manifest's subject (OCI-Subject). */
  private async putManifest(reference: string, bytes: Buffer, mediaType: string): Promise<boolean> {
    const what = `storing manifest ${reference} in ${this.location}`;
    const target = this.client.url(`/v2/${this.repository}/manifests/${reference}`);
    const response = await this.client.request(target, { method: 'PUT', scopes: this.pushScopes, what, headers: { 'content-type': mediaType }, body: bytes }, [200, 201, 202]);
    await response.body.dump();
    return response.headers['oci-subject'] !== undefined;
  }

  /**
   * Config and document blobs, the manifest by digest, its entry in the subject's fallback
   * referrers index (unless the registry indexes subjects itself), and the tag last.
   */
  private async pushArtifact(artifact: ArtifactToPush): Promise<void> {
    const layer = { mediaType: artifact.documentMediaType, digest: sha256Digest(artifact.document), size: artifact.document.length };
    await this.putBlob(EMPTY_CONFIG.digest, EMPTY_CONFIG.size, async () => Readable.from([EMPTY_CONFIG_BYTES]));
    await this.putBlob(layer.digest, layer.size, async () => Readable.from([artifact.document]));
    const manifest: ImageManifest = {
      schemaVersion: 2,
      mediaType: MediaType.imageManifest,
      artifactType: artifact.artifactType,
      config: EMPTY_CONFIG,
      layers: [layer, ...(artifact.otherLayers ?? [])],
      ...(artifact.subject && { subject: { mediaType: artifact.subject.mediaType, digest: artifact.subject.digest, size: artifact.subject.size } }),
      annotations: artifact.annotations,
    };
    const bytes = Buffer.from(JSON.stringify(manifest));
    const digest = sha256Digest(bytes);
    const subjectIndexed = await this.putManifest(digest, bytes, MediaType.imageManifest);
    if (artifact.subject && !subjectIndexed) {
      const referrer = { mediaType: MediaType.imageManifest, digest, size: bytes.length, artifactType: artifact.artifactType, annotations: artifact.annotations };
      await addFallbackReferrer(this.client, this.repository, artifact.subject.digest, referrer, this.pushScopes);
    }
    if (artifact.tag) await this.putManifest(artifact.tag, bytes, MediaType.imageManifest);
  }

  private async manifestIfAny(reference: string): Promise<Buffer | undefined> {
    try {
      return (await this.client.getManifest(this.repository, reference, this.pullScopes)).bytes;
    } catch (error) {
      if (error instanceof PrtiqlError && error.code === 'E_NOT_FOUND') return undefined;
      throw error;
    }
  }

  private async readDocumentLayer(manifest: Buffer, artifactType: string, what: string): Promise<Buffer> {
    const layer = documentLayer(manifest, artifactType, what);
    if (layer.size > MAX_DOCUMENT_BYTES) throw new PrtiqlError('E_TOO_LARGE', `${what} is larger than the ${MAX_DOCUMENT_BYTES}-byte limit`);
    return readCapped(await this.client.openBlob(this.repository, layer, this.pullScopes), MAX_DOCUMENT_BYTES, what);
  }

  /** A registry has no API that lists a repository's blobs: `prtiql prune` finds them through what names them. */
  async listBlobs(): Promise<undefined> {
    return undefined;
  }

  /** The documents under their tags; tags of images and of referrers indexes are not documents. */
  async listDocuments(): Promise<StoreDocument[]> {
    let tags: string[];
    try {
      tags = await this.client.listTags(this.repository, this.pullScopes);
    } catch (error) {
      if (isPrtiqlError(error, 'E_NOT_FOUND')) return [];
      throw error;
    }
    const documents: StoreDocument[] = [];
    for (const tag of tags.filter((name) => !name.startsWith('sha256-'))) {
      const document = await this.taggedDocument(tag);
      if (document) documents.push(document);
    }
    return documents;
  }

  /** The document an artifact under `tag` holds, when it is one of prtiql's under its own tag. */
  private async taggedDocument(tag: string): Promise<StoreDocument | undefined> {
    const bytes = await this.manifestIfAny(tag);
    if (!bytes) return undefined;
    const annotations = (parseJson(bytes, `manifest ${this.location}:${tag}`) as { annotations?: Record<string, unknown> } | null)?.annotations;
    const path = annotations?.[ANNOTATION_DOCUMENT];
    const document = typeof path === 'string' ? parseDocumentPath(path) : undefined;
    if (!document) return undefined;
    const ownTag = document.kind === 'delta-record' ? deltaRecordTag(document) : documentArtifact(document).tag;
    return ownTag === tag ? document : undefined;
  }

  /**
   * Removes a blob and, when it is an image (released manifests are blobs and manifests here),
   * the image: first its referrers fallback index and the artifacts it lists (they describe
   * that image only), then the manifest by digest (which drops every tag naming it), then the blob.
   */
  async deleteBlob(digest: Digest): Promise<void> {
    const indexBytes = await this.manifestIfAny(referrersTag(digest));
    if (indexBytes) {
      const what = `referrers index ${this.location}:${referrersTag(digest)}`;
      const index = parseIndex(parseJson(indexBytes, what), what);
      await this.deleteManifest(sha256Digest(indexBytes));
      for (const artifact of index.manifests) await this.deleteManifest(artifact.digest);
    }
    await this.deleteManifest(digest);
    await this.deleteRequest(`/v2/${this.repository}/blobs/${digest}`, `deleting blob ${digest}`);
  }

  /** Removes a document's artifact: its manifest by digest, and with it the document's tag. */
  async deleteDocument(document: StoreDocument): Promise<void> {
    const tag = document.kind === 'delta-record' ? deltaRecordTag(document) : documentArtifact(document).tag;
    const bytes = await this.manifestIfAny(tag);
    if (bytes) await this.deleteManifest(sha256Digest(bytes));
  }

  private deleteManifest(digest: Digest): Promise<void> {
    return this.deleteRequest(`/v2/${this.repository}/manifests/${digest}`, `deleting manifest ${digest}`);
  }

  /** One DELETE; what is already gone is no error. Registries that refuse deletes say 405. */
  private async deleteRequest(path: string, what: string): Promise<void> {
    let response;
    try {
      response = await this.client.request(this.client.url(path), { method: 'DELETE', scopes: this.deleteScopes, what: `${what} in ${this.location}` }, [200, 202, 204, 404, 405]);
    } catch (error) {
      if (!isPrtiqlError(error, 'E_UNAUTHORIZED')) throw error;
      throw new PrtiqlError('E_UNAUTHORIZED', `${error.message} (deleting needs the delete action on ${this.repository}, besides pull and push)`, { cause: error });
    }
    await response.body.dump();
    if (response.statusCode === 405) {
      throw new PrtiqlError('E_UNAUTHORIZED', `${this.location} does not allow ${what}: enable deletes on the registry (distribution: storage.delete.enabled: true)`);
    }
  }
}
