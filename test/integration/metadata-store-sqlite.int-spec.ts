import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describeRemoteApplyContract } from './metadata-remote.contract';
import { describeMetadataStoreContract } from './metadata-store.contract';

describeMetadataStoreContract('SQLite', () => {
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'riverfs-metastore-'));
  return Promise.resolve({
    url: `sqlite:${path.join(directory, 'metadata.sqlite')}`,
    destroy: () => Promise.resolve(fs.rmSync(directory, { recursive: true, force: true })),
  });
});

describeRemoteApplyContract('SQLite', () => {
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'riverfs-metaremote-'));
  return Promise.resolve({
    url: `sqlite:${path.join(directory, 'metadata.sqlite')}`,
    destroy: () => Promise.resolve(fs.rmSync(directory, { recursive: true, force: true })),
  });
});
