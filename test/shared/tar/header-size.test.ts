import tarStream from 'tar-stream';
import t from 'tap';
import { MAX_OCTAL_SIZE, withTarSize } from '../../../shared/tar/header-size.js';
import { splitTar } from '../../../shared/tar/split.js';
import { tarHeaderBlock } from '../../helpers/delta.js';

/** The size splitTar reads from `header` followed by `size` content bytes (it checks the checksum). */
async function parsedSize(header: Buffer, size: number): Promise<number> {
  const padded = Math.ceil(size / 512) * 512;
  const tar = (async function* () {
    yield Buffer.concat([header, Buffer.alloc(padded + 1024)]);
  })();
  for await (const part of splitTar(tar)) {
    if (part.kind === 'entry') return part.header.size;
  }
  throw new Error('no header');
}

t.test('a GNU-style header gets the new size and a valid checksum, and equals the header written with that size', async (t) => {
  const rewritten = withTarSize(tarHeaderBlock('app/server.js', 1000), 70_000);
  t.ok(rewritten.equals(tarHeaderBlock('app/server.js', 70_000)));
  t.equal(await parsedSize(rewritten, 70_000), 70_000);
});

t.test("the bytes ending each field are kept: tar-stream's headers end the size with a space", async (t) => {
  const header = async (size: number) => {
    const pack = tarStream.pack();
    pack.entry({ name: 'a/b.js', size, mode: 0o644, mtime: new Date(0), type: 'file' }, Buffer.alloc(size));
    pack.finalize();
    const parts: Buffer[] = [];
    for await (const part of pack) parts.push(part as Buffer);
    return Buffer.concat(parts).subarray(0, 512);
  };
  const rewritten = withTarSize(await header(5), 123_456);
  t.ok(rewritten.equals(await header(123_456)));
  t.equal(rewritten[135], 0x20);
  t.equal(await parsedSize(rewritten, 123_456), 123_456);
});

t.test('sizes an octal field cannot hold and blocks that are not headers are refused', async (t) => {
  const header = tarHeaderBlock('x', 1);
  t.ok(withTarSize(header, MAX_OCTAL_SIZE).subarray(124, 135).equals(Buffer.from('77777777777')));
  t.throws(() => withTarSize(header, MAX_OCTAL_SIZE + 1), RangeError);
  t.throws(() => withTarSize(header, -1), RangeError);
  t.throws(() => withTarSize(header.subarray(0, 511), 1), RangeError);
});
