import fs from 'node:fs';
import path from 'node:path';
import { offlineOpenApiDocument } from './openapi.util';

describe('the committed OpenAPI document', () => {
  it('should describe the routes the code has (run `npm run openapi:generate` after changing them)', async () => {
    const committed = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'openapi.json'), 'utf8')) as unknown;
    expect(await offlineOpenApiDocument()).toEqual(committed);
  });

  it('should document every admin route with the bearer scheme and problem answers', async () => {
    const document = await offlineOpenApiDocument();
    const operations = Object.entries(document.paths).flatMap(([route, item]) =>
      Object.entries(item as Record<string, { security?: unknown; responses: Record<string, unknown> }>).map(
        ([method, operation]) => ({ route, method, operation }),
      ),
    );
    const admin = operations.filter(({ route }) => route.startsWith('/admin'));
    expect(admin.length).toBeGreaterThanOrEqual(15);
    for (const { route, method, operation } of admin) {
      expect({ route, method, security: operation.security }).toEqual({ route, method, security: [{ bearer: [] }] });
      expect(Object.keys(operation.responses)).toEqual(expect.arrayContaining(['400', '401', '500']));
    }
  });
});
