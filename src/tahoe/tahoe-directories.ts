import { TahoeError } from './tahoe.errors';
import { assertChildName, capPath, childPath, dirCap, expectCap, linkableCap, usableCap } from './tahoe-addressing';
import type { TahoeHttp } from './tahoe-http';
import { parseDirectoryListing, parseNode } from './tahoe-json.util';
import type {
  ChildSpec,
  LinkOptions,
  MkdirChildOptions,
  MkdirOptions,
  MutableFormat,
  ReplaceMode,
  RequestControl,
  TahoeDirectoryListing,
  TahoeNode,
} from './tahoe.types';

// Tahoe's relink/rename handler calls bytes.strip() on from_name and to_name, so " a " would act on "a": refuse.
function assertRelinkName(name: string, operation: string): void {
  assertChildName(name, operation);
  if (/^[ \t\n\r\v\f]|[ \t\n\r\v\f]$/.test(name)) {
    throw new TahoeError({
      code: 'BAD_REQUEST',
      operation,
      detail:
        'Tahoe strips leading/trailing whitespace from relink/rename names; link the new name and unlink the old one instead',
    });
  }
}

function replaceArg(replace: ReplaceMode | undefined): string {
  return replace === 'only-files' ? 'only-files' : replace === true ? 'true' : 'false';
}

function formatArg(format: MutableFormat | undefined): MutableFormat {
  return format ?? 'SDMF';
}

function childSpecJson(spec: ChildSpec): [string, Record<string, unknown>] {
  const type = spec.type === 'directory' ? 'dirnode' : spec.type === 'unknown' ? 'unknown' : 'filenode';
  const data: Record<string, unknown> = {};
  if (spec.rwUri !== undefined) {
    data.rw_uri = spec.rwUri;
  }
  if (spec.roUri !== undefined) {
    data.ro_uri = spec.roUri;
  }
  if (spec.metadata !== undefined) {
    data.metadata = spec.metadata;
  }
  return [type, data];
}

function childrenBody(operation: string, children: ReadonlyMap<string, ChildSpec> | Record<string, ChildSpec>): string {
  // A null-prototype object, so that a child named "__proto__" is a key like any other.
  const body = Object.create(null) as Record<string, unknown>;
  const entries: [string, ChildSpec][] =
    children instanceof Map
      ? [...(children as ReadonlyMap<string, ChildSpec>).entries()]
      : Object.entries(children as Record<string, ChildSpec>);
  for (const [name, spec] of entries) {
    assertChildName(name, operation);
    if (spec.rwUri === undefined && spec.roUri === undefined) {
      throw new TahoeError({ code: 'BAD_REQUEST', operation, detail: 'each child needs rwUri or roUri' });
    }
    for (const cap of [spec.rwUri, spec.roUri]) {
      if (cap !== undefined) {
        linkableCap(operation, cap);
      }
    }
    body[name] = childSpecJson(spec);
  }
  return JSON.stringify(body);
}

/**
 * Node and directory operations of TahoeClient (which documents each one): `t=json` of nodes and links, listings, and
 * every change to a directory (mkdir in its four forms, link, set_children, unlink, rename, relink).
 */
export class TahoeDirectories {
  constructor(private readonly http: TahoeHttp) {}

  // ------------------------------------------------------------------------------------------------------- metadata

  async getNode(cap: string, options: RequestControl): Promise<TahoeNode> {
    const operation = 'getNode';
    const parsed = usableCap(operation, cap);
    return parseNode(
      await this.http.callJson(operation, {
        method: 'GET',
        path: capPath(parsed),
        query: { t: 'json' },
        signal: options.signal,
      }),
    );
  }

  async getChild(dircap: string, name: string, options: RequestControl): Promise<TahoeNode> {
    const operation = 'getChild';
    const parsed = dirCap(operation, dircap);
    assertChildName(name, operation);
    const json = await this.http.callJson(operation, {
      method: 'GET',
      path: childPath(parsed, name, operation),
      query: { t: 'json' },
      signal: options.signal,
    });
    return parseNode(json);
  }

  async listDirectory(dircap: string, options: RequestControl): Promise<TahoeDirectoryListing> {
    const operation = 'listDirectory';
    const parsed = dirCap(operation, dircap);
    const json = await this.http.callJson(operation, {
      method: 'GET',
      path: capPath(parsed),
      query: { t: 'json' },
      signal: options.signal,
    });
    const listing = parseDirectoryListing(json);
    if (!listing) {
      throw new TahoeError({ code: 'SERVER_ERROR', operation, detail: 'the node did not answer with a directory' });
    }
    return listing;
  }

  // ---------------------------------------------------------------------------------------------------- directories

  async mkdir(options: MkdirOptions): Promise<string> {
    const operation = 'mkdir';
    const format = formatArg(options.format);
    const text = await this.http.callText(operation, {
      method: 'POST',
      path: '/uri',
      query: { t: 'mkdir', format },
      signal: options.signal,
    });
    return expectCap(operation, text, (cap) => cap.kind === (format === 'MDMF' ? 'DIR2-MDMF' : 'DIR2'));
  }

  async mkdirChild(dircap: string, name: string, options: MkdirChildOptions): Promise<string> {
    const operation = 'mkdirChild';
    const parent = dirCap(operation, dircap);
    assertChildName(name, operation);
    const text = await this.http.callText(operation, {
      method: 'POST',
      path: capPath(parent),
      query: { t: 'mkdir', name, format: formatArg(options.format), replace: replaceArg(options.replace) },
      signal: options.signal,
    });
    return expectCap(operation, text, (cap) => cap.kind === 'DIR2' || cap.kind === 'DIR2-MDMF');
  }

  async mkdirWithChildren(
    children: ReadonlyMap<string, ChildSpec> | Record<string, ChildSpec>,
    options: RequestControl,
  ): Promise<string> {
    const operation = 'mkdirWithChildren';
    const text = await this.http.callText(operation, {
      method: 'POST',
      path: '/uri',
      // No format=: Tahoe ignores it on the unlinked form (always SDMF).
      query: { t: 'mkdir-with-children' },
      headers: { 'content-type': 'application/json' },
      body: childrenBody(operation, children),
      signal: options.signal,
    });
    return expectCap(operation, text, (cap) => cap.kind === 'DIR2');
  }

  async mkdirChildWithChildren(
    dircap: string,
    name: string,
    children: ReadonlyMap<string, ChildSpec> | Record<string, ChildSpec>,
    options: MkdirOptions,
  ): Promise<string> {
    const operation = 'mkdirChildWithChildren';
    const parent = dirCap(operation, dircap);
    assertChildName(name, operation);
    const text = await this.http.callText(operation, {
      method: 'POST',
      path: capPath(parent),
      query: { t: 'mkdir-with-children', name, format: formatArg(options.format) },
      headers: { 'content-type': 'application/json' },
      body: childrenBody(operation, children),
      signal: options.signal,
    });
    return expectCap(operation, text, (cap) => cap.kind === 'DIR2' || cap.kind === 'DIR2-MDMF');
  }

  async link(dircap: string, name: string, childcap: string, options: LinkOptions): Promise<void> {
    const operation = 'link';
    const parent = dirCap(operation, dircap);
    assertChildName(name, operation);
    linkableCap(operation, childcap);
    await this.http.callText(operation, {
      method: 'PUT',
      path: childPath(parent, name, operation),
      query: { t: 'uri', replace: replaceArg(options.replace) },
      body: childcap,
      signal: options.signal,
    });
  }

  async setChildren(
    dircap: string,
    children: ReadonlyMap<string, ChildSpec> | Record<string, ChildSpec>,
    options: LinkOptions,
  ): Promise<void> {
    const operation = 'setChildren';
    const parent = dirCap(operation, dircap);
    const body = childrenBody(operation, children);
    if (body === '{}') {
      return;
    }
    await this.http.callText(operation, {
      method: 'POST',
      path: capPath(parent),
      // replace=, not the overwrite= of Tahoe's docs, which its code ignores.
      query: { t: 'set_children', replace: replaceArg(options.replace) },
      headers: { 'content-type': 'application/json' },
      body,
      signal: options.signal,
    });
  }

  async unlink(dircap: string, name: string, options: RequestControl): Promise<string> {
    const operation = 'unlink';
    const parent = dirCap(operation, dircap);
    assertChildName(name, operation);
    // Tahoe answers a DELETE through a read-only dircap with a bare 501 "I don't know how to treat a DELETE
    // request", which says nothing about why: refuse it here with the real reason.
    if (parent.access !== 'write') {
      throw new TahoeError({
        code: 'READ_ONLY',
        operation,
        detail: `cannot unlink through a read-only URI:${parent.kind} cap`,
      });
    }
    const text = await this.http.callText(operation, {
      method: 'DELETE',
      path: childPath(parent, name, operation),
      signal: options.signal,
    });
    return text.trim();
  }

  async rename(dircap: string, fromName: string, toName: string, options: LinkOptions): Promise<void> {
    const operation = 'rename';
    const parent = dirCap(operation, dircap);
    assertRelinkName(fromName, operation);
    assertRelinkName(toName, operation);
    await this.http.callText(operation, {
      method: 'POST',
      path: capPath(parent),
      query: { t: 'rename', from_name: fromName, to_name: toName, replace: replaceArg(options.replace) },
      signal: options.signal,
    });
  }

  async relink(
    fromDircap: string,
    fromName: string,
    toDircap: string,
    toName: string,
    options: LinkOptions,
  ): Promise<void> {
    const operation = 'relink';
    const parent = dirCap(operation, fromDircap);
    const target = dirCap(operation, toDircap);
    assertRelinkName(fromName, operation);
    assertRelinkName(toName, operation);
    await this.http.callText(operation, {
      method: 'POST',
      path: capPath(parent),
      query: {
        t: 'relink',
        from_name: fromName,
        to_dir: target.bareCap,
        to_name: toName,
        replace: replaceArg(options.replace),
      },
      signal: options.signal,
    });
  }
}
