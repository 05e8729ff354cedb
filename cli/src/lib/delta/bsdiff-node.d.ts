/** bsdiff-node (native addon, CommonJS, untyped): file-to-file bsdiff run on the libuv thread pool. */
declare module 'bsdiff-node' {
  const bsdiff: {
    /** Writes a BSDIFF40 patch turning `oldFile` into `newFile`; rejects with a message string. */
    diff(oldFile: string, newFile: string, patchFile: string): Promise<void>;
    /** Applies a BSDIFF40 patch; old bytes outside the old file count as zero. */
    patch(oldFile: string, newFile: string, patchFile: string): Promise<void>;
  };
  export default bsdiff;
}
