/** The part of seek-bzip (pure-JS bzip2 decoder, CommonJS, untyped) that the bsdiff transcoder uses. */
declare module 'seek-bzip' {
  const Bunzip: {
    /** Decodes a whole bzip2 stream; `output` as a number pre-sizes the result and must then match exactly. */
    decode(input: Uint8Array, output?: number): Buffer;
  };
  export default Bunzip;
}
