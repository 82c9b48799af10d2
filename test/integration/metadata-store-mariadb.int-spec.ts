import { createTestDatabase } from '../support/mariadb.helper';
import { describeRemoteApplyContract } from './metadata-remote.contract';
import { describeMetadataStoreContract } from './metadata-store.contract';

describeMetadataStoreContract('MariaDB', async () => {
  const database = await createTestDatabase('metastore');
  return { url: database.url, destroy: () => database.drop() };
});

describeRemoteApplyContract('MariaDB', async () => {
  const database = await createTestDatabase('metaremote');
  return { url: database.url, destroy: () => database.drop() };
});
