// Runs s3rver on 127.0.0.1 for the tests (test/helpers/s3rver.ts starts it): argv[2] is
// {"directory": "...", "buckets": ["..."]}. Prints {"port": N} once listening; exits when
// its stdin closes, so it never outlives the test process. Needs --openssl-legacy-provider
// on Node >= 17: s3rver encrypts list continuation tokens with DES.
import S3rver from 's3rver';

const { directory, buckets } = JSON.parse(process.argv[2]);
const server = new S3rver({
  address: '127.0.0.1',
  port: 0,
  silent: true,
  directory,
  configureBuckets: buckets.map((name) => ({ name })),
});
const { port } = await server.run();
process.stdout.write(`${JSON.stringify({ port })}\n`);
process.stdin.resume();
process.stdin.on('end', () => process.exit(0));
