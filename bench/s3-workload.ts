import {
  CompleteMultipartUploadCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  ListObjectsCommand,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import crypto from 'node:crypto';
import type { AddressInfo } from 'node:net';
// s3rver ships no types; its constructor, run/close and the HTTP server it listens with are all this uses.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const S3rver = require('s3rver') as new (options: Record<string, unknown>) => {
  run(): Promise<AddressInfo>;
  close(): Promise<void>;
  httpServer?: { keepAliveTimeout: number; headersTimeout: number };
};

/**
 * Node's HTTP server closes a keep-alive connection idle for 5 s; the SDK's agent does not know and may send on it at
 * that very moment: ECONNRESET, and with `maxAttempts: 1` no retry. The workload leaves its PUT connections idle
 * through the multipart upload and the drain to Tahoe, often about 5 s (CI saw it fail so on the first GET). Idle
 * connections are kept far longer than any pause of the workload.
 */
const SERVER_KEEP_ALIVE_MS = 600_000;

/**
 * An S3 server (s3rver, written for a plain directory) on `directory`, driven by the AWS SDK client, plus a model
 * of what its buckets should hold: every object's SHA-256, so that everything can be read back and compared. Shared
 * by the S3 e2e suite (small sizes) and the benchmark's `s3` workload (the sizes).
 */
export class S3OnDirectory {
  /** bucket -> key -> SHA-256 (hex) of the content it should have. */
  readonly model = new Map<string, Map<string, string>>();
  bytesWritten = 0;
  bytesRead = 0;

  private constructor(
    private readonly server: { close(): Promise<void> },
    readonly client: S3Client,
  ) {}

  static async start(directory: string): Promise<S3OnDirectory> {
    const server = new S3rver({ address: '127.0.0.1', port: 0, directory, silent: true });
    const { port } = await server.run();
    if (server.httpServer !== undefined) {
      server.httpServer.keepAliveTimeout = SERVER_KEEP_ALIVE_MS;
      server.httpServer.headersTimeout = SERVER_KEEP_ALIVE_MS + 1000;
    }
    const client = new S3Client({
      endpoint: `http://127.0.0.1:${port}`,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
      // A request that finds the server gone fails now instead of retrying against a restarted one.
      maxAttempts: 1,
    });
    return new S3OnDirectory(server, client);
  }

  /** Carries the model over to a server on another directory (a restarted mount, another gateway). */
  static async startWithModel(directory: string, model: Map<string, Map<string, string>>): Promise<S3OnDirectory> {
    const s3 = await S3OnDirectory.start(directory);
    for (const [bucket, keys] of model) {
      s3.model.set(bucket, new Map(keys));
    }
    return s3;
  }

  async close(): Promise<void> {
    this.client.destroy();
    await this.server.close();
  }

  async createBucket(bucket: string): Promise<void> {
    await this.client.send(new CreateBucketCommand({ Bucket: bucket }));
    this.model.set(bucket, new Map());
  }

  async put(bucket: string, key: string, body: Buffer): Promise<void> {
    const answer = await this.client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
    if (answer.ETag !== `"${crypto.createHash('md5').update(body).digest('hex')}"`) {
      throw new Error(`PUT ${bucket}/${key}: ETag ${answer.ETag} is not the MD5 of what was sent`);
    }
    this.bytesWritten += body.length;
    this.bucketModel(bucket).set(key, sha256(body));
  }

  /** A multipart upload of `body` in parts of `partSize` bytes (the last one shorter). */
  async putMultipart(bucket: string, key: string, body: Buffer, partSize: number): Promise<void> {
    const { UploadId } = await this.client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key }));
    const parts: { ETag: string; PartNumber: number }[] = [];
    for (let offset = 0, number = 1; offset < body.length; offset += partSize, number += 1) {
      const answer = await this.client.send(
        new UploadPartCommand({
          Bucket: bucket,
          Key: key,
          UploadId,
          PartNumber: number,
          Body: body.subarray(offset, offset + partSize),
        }),
      );
      parts.push({ ETag: answer.ETag ?? '', PartNumber: number });
    }
    await this.client.send(
      new CompleteMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId, MultipartUpload: { Parts: parts } }),
    );
    this.bytesWritten += body.length;
    this.bucketModel(bucket).set(key, sha256(body));
  }

  async delete(bucket: string, key: string): Promise<void> {
    await this.client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
    this.bucketModel(bucket).delete(key);
  }

  /** Every key under `prefix`, through as many pages as the listing takes. */
  async list(bucket: string, prefix = ''): Promise<string[]> {
    const keys: string[] = [];
    let truncated: boolean;
    do {
      // ListObjects (v1) with Marker: s3rver 3.7's ListObjectsV2 makes its continuation tokens with DES, which
      // Node 17+ (OpenSSL 3) no longer has, so any truncated v2 listing fails, on a local directory as on the mount.
      const page = await this.client.send(
        new ListObjectsCommand({ Bucket: bucket, Prefix: prefix, Marker: keys.at(-1), MaxKeys: 250 }),
      );
      keys.push(...(page.Contents ?? []).map((entry) => entry.Key ?? ''));
      truncated = page.IsTruncated === true;
    } while (truncated);
    return keys.sort();
  }

  /** The keys the model expects under `prefix`. */
  expectedKeys(bucket: string, prefix = ''): string[] {
    return [...this.bucketModel(bucket).keys()].filter((key) => key.startsWith(prefix)).sort();
  }

  async get(bucket: string, key: string): Promise<Buffer> {
    const answer = await this.client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    const bytes = Buffer.from(await answer.Body!.transformToByteArray());
    this.bytesRead += bytes.length;
    return bytes;
  }

  /** Reads every object of the model back; the keys whose content differs (empty when all match). */
  async verifyAll(concurrency = 8): Promise<string[]> {
    const wrong: string[] = [];
    const all = [...this.model].flatMap(([bucket, keys]) => [...keys].map(([key, hash]) => ({ bucket, key, hash })));
    await inParallel(all, concurrency, async ({ bucket, key, hash }) => {
      if (sha256(await this.get(bucket, key)) !== hash) {
        wrong.push(`${bucket}/${key}`);
      }
    });
    return wrong.sort();
  }

  private bucketModel(bucket: string): Map<string, string> {
    const keys = this.model.get(bucket);
    if (!keys) {
      throw new Error(`no bucket ${bucket} in the model`);
    }
    return keys;
  }
}

export function sha256(bytes: Buffer): string {
  return crypto.createHash('sha256').update(bytes).digest('hex');
}

/** Runs `work` on every item, at most `concurrency` at once. */
export async function inParallel<T>(items: T[], concurrency: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const workers = Array.from({ length: Math.min(concurrency, items.length) }, async () => {
    while (next < items.length) {
      const item = items[next];
      next += 1;
      await work(item);
    }
  });
  await Promise.all(workers);
}

/**
 * Object sizes of the mixed workload, deterministic: mostly small (the S3 case RiverFS sees most), some of a few
 * hundred KiB, and every `largeEvery`-th one `largeSize`.
 */
export function mixedSizes(count: number, largeSize: number, largeEvery: number): number[] {
  const small = [0, 1, 100, 1_000, 4_096, 10_000, 65_536, 200_000, 500_000];
  return Array.from({ length: count }, (_, index) =>
    index % largeEvery === largeEvery - 1 ? largeSize : small[index % small.length],
  );
}
