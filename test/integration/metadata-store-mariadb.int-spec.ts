import { createTestDatabase } from '../support/mariadb.helper';
import { describeMetadataStoreContract } from './metadata-store.contract';

describeMetadataStoreContract('MariaDB', async () => {
  const database = await createTestDatabase('metastore');
  return { url: database.url, destroy: () => database.drop() };
});
