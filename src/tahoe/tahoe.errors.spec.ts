import {
  classifyHttpFailure,
  summarizeErrorBody,
  TahoeError,
  tahoeErrorFromResponse,
  tahoeErrorFromTransport,
  type TahoeErrorCode,
} from './tahoe.errors';
import { BadCapError } from './cap.util';

// Status codes and bodies exactly as a tahoe-lafs 1.20.0 client node answered them (Accept: text/plain), with the
// venv path shortened, except the three marked ASSUMED: a grid cannot be made to raise UncoordinatedWriteError or
// NotEnoughServersError on demand, so those follow the shape every unmapped exception has (500, traceback ending
// in the class name), and the 502 stands for a reverse proxy. Most codes are also exercised against the live grid
// by test/integration/tahoe-client*.int-spec.ts.
const TRACEBACK_NOT_WRITEABLE =
  'Traceback (most recent call last):\nFailure: allmydata.mutable.common.NotWriteableError: \n';
const TRACEBACK_SET_CHILDREN_RO = `Traceback (most recent call last):
  File "/venv/lib/python3.11/site-packages/allmydata/mutable/filenode.py", line 581, in <lambda>
    d.addCallback(lambda mfv: mfv.modify(modifier, backoffer))
  File "/venv/lib/python3.11/site-packages/allmydata/mutable/filenode.py", line 829, in modify
    assert not self.is_readonly()
builtins.AssertionError: 
`;
const TRACEBACK_UNHAPPY = `Traceback (most recent call last):
  File "/venv/lib/python3.11/site-packages/allmydata/immutable/upload.py", line 895, in _failed
    raise UploadUnhappinessError(msg)
allmydata.interfaces.UploadUnhappinessError: server selection failed for <Tahoe2ServerSelector for upload b'f7isn'>: shares could be placed on only 2 server(s) such that any 2 of them have enough shares to recover the file, but we were asked to place shares on at least 3 such servers.
`;
const TRACEBACK_MDMF_OFFSET = `Traceback (most recent call last):
  File "/venv/lib/python3.11/site-packages/allmydata/mutable/filenode.py", line 1093, in _do_update_update
    assert offset <= self.get_size()
builtins.AssertionError: 
`;
// ASSUMED (see above).
const TRACEBACK_UCW = `Traceback (most recent call last):
  File "/venv/lib/python3.11/site-packages/allmydata/mutable/publish.py", line 1290, in _done
allmydata.mutable.common.UncoordinatedWriteError: 
`;
const TRACEBACK_CHK_PUT = `Traceback (most recent call last):
  File "/venv/lib/python3.11/site-packages/allmydata/web/filenode.py", line 286, in render_PUT
    assert self.parentnode and self.name
builtins.AssertionError: 
`;
const HTML_404_CHILD = `
<html>
  <head><title>404 - Error</title></head>
  <body>
    <h1>Error</h1>
    <p>No such child: nope</p>
  </body>
</html>
`;
const HTML_501_DELETE = `
<html>
  <head><title>501 - Huh?</title></head>
  <body>
    <h1>Huh?</h1>
    <p>I don't know how to treat a DELETE request.</p>
  </body>
</html>
`;
const HTML_405_VERIFIER = `
<html>
  <head><title>405 - Method Not Allowed</title></head>
  <body>
    <p>Your browser approached me (at /uri/URI:DIR2-Verifier:3wcjir4qwwevrx4toiqquiotrq:fwbc2lal5s3ikzxxjc7gkvfg5gn4l5hxzqooikg7yqeigs5x456q?t=check&amp;output=JSON) with the method "POST".  I only allow the methods HEAD, GET here.</p>
  </body>
</html>
`;
const JSON_410_DIR =
  '{"error": "UnrecoverableFileError: the directory (or mutable file) could not be retrieved, because there were insufficient good shares."}';
const TEXT_410_NO_SHARES =
  'NoSharesError: no shares could be found. Zero shares usually indicates a corrupt URI, or that no servers were connected, but it might also indicate severe corruption. You should perform a filecheck on this object to learn more.\n\nThe full error message is:\nno shares (need 2). Last failure: None';
const TEXT_409 = 'There was already a child by that name, and you asked me to not replace it.';

describe('classifyHttpFailure', () => {
  it.each<[string, number, string, TahoeErrorCode]>([
    ['a missing child (HTML despite Accept: text/plain)', 404, HTML_404_CHILD, 'NOT_FOUND'],
    ['replace=false on an existing name', 409, TEXT_409, 'ALREADY_EXISTS'],
    ['an immutable file with no shares', 410, TEXT_410_NO_SHARES, 'UNRECOVERABLE'],
    ['an unrecoverable directory (JSON body)', 410, JSON_410_DIR, 'UNRECOVERABLE'],
    ['a range past the end', 416, 'First beyond end of file', 'RANGE_NOT_SATISFIABLE'],
    ['an upload with a storage node down', 500, TRACEBACK_UNHAPPY, 'UNHAPPY_UPLOAD'],
    // ASSUMED (see above).
    ['a mutable publish with no servers', 500, 'allmydata.mutable.common.NotEnoughServersError: ', 'UNHAPPY_UPLOAD'],
    ['a competing mutable write', 500, TRACEBACK_UCW, 'UNCOORDINATED_WRITE'],
    ['a PUT into a read-only directory', 500, TRACEBACK_NOT_WRITEABLE, 'READ_ONLY'],
    ['set_children on a read-only directory', 500, TRACEBACK_SET_CHILDREN_RO, 'READ_ONLY'],
    [
      'an overwrite through a read-only mutable cap',
      400,
      'PUT to a mutable file: replace or update requested with read-only cap',
      'READ_ONLY',
    ],
    [
      'a GET of an unparseable cap',
      400,
      'GET unknown URI type: can only do t=info and t=json, not t=.\nUsing a webapi server that supports a later version of Tahoe may help.',
      'BAD_CAP',
    ],
    [
      'a bare unknown cap linked with t=uri',
      400,
      "MustNotBeUnknownRWError: an operation to add a child named 'x' to a directory was given an unknown cap in a write slot.",
      'BAD_CAP',
    ],
    ['an unknown format', 400, 'Unknown format: FOO, I know CHK, SDMF, MDMF', 'BAD_REQUEST'],
    [
      'an offset on an immutable file',
      400,
      'PUT to a file: append operation invoked on an immutable cap',
      'BAD_REQUEST',
    ],
    ['a verify cap sent a POST', 405, HTML_405_VERIFIER, 'BAD_REQUEST'],
    ['an MDMF write past the end', 500, TRACEBACK_MDMF_OFFSET, 'BAD_REQUEST'],
    ['a PUT to a bare CHK cap', 500, TRACEBACK_CHK_PUT, 'SERVER_ERROR'],
    ['a DELETE the server cannot route', 501, HTML_501_DELETE, 'SERVER_ERROR'],
    // ASSUMED (see above).
    ['a proxy in front of the node that lost it', 502, 'Bad Gateway', 'UNAVAILABLE'],
  ])('should map %s to its code', (_label, status, body, code) => {
    expect(classifyHttpFailure(status, body)).toBe(code);
  });
});

describe('summarizeErrorBody', () => {
  it('should take the paragraph of an HTML error page', () => {
    expect(summarizeErrorBody(HTML_404_CHILD)).toBe('No such child: nope');
    expect(summarizeErrorBody(HTML_501_DELETE)).toBe("I don't know how to treat a DELETE request.");
  });

  it('should take the error of a JSON body', () => {
    expect(summarizeErrorBody(JSON_410_DIR)).toMatch(/^UnrecoverableFileError: the directory/);
  });

  it('should take the exception line of a traceback, with the assert source for assertion failures', () => {
    expect(summarizeErrorBody(TRACEBACK_MDMF_OFFSET)).toBe(
      'builtins.AssertionError: (assert offset <= self.get_size())',
    );
    expect(summarizeErrorBody(TRACEBACK_NOT_WRITEABLE)).toBe('allmydata.mutable.common.NotWriteableError:');
    expect(summarizeErrorBody(TRACEBACK_UNHAPPY)).toMatch(
      /^allmydata\.interfaces\.UploadUnhappinessError: server selection/,
    );
  });

  it('should bound the length of what it keeps', () => {
    expect(summarizeErrorBody('x'.repeat(10_000)).length).toBeLessThan(500);
    expect(summarizeErrorBody('  ')).toBe('(empty body)');
  });
});

describe('TahoeError', () => {
  it('should carry code, status, operation and retryability', () => {
    const error = tahoeErrorFromResponse('upload', 500, TRACEBACK_UNHAPPY);
    expect(error).toBeInstanceOf(TahoeError);
    expect(error).toMatchObject({ code: 'UNHAPPY_UPLOAD', status: 500, operation: 'upload', retryable: true });
    expect(tahoeErrorFromResponse('getChild', 404, HTML_404_CHILD)).toMatchObject({ retryable: false });
  });

  it('should never put a raw cap in its message', () => {
    const error = tahoeErrorFromResponse('check', 405, HTML_405_VERIFIER);
    expect(error.message).toContain('URI:DIR2-Verifier:<redacted:');
    expect(error.message).not.toContain('3wcjir4qwwevrx4toiqquiotrq');
    const direct = new TahoeError({
      code: 'SERVER_ERROR',
      operation: 'x',
      detail: 'see URI:SSK:73zwzzy676a2zlks2z3f7ikdoi:kv4dtcpnhaa4fmsgcfepsix5yzbxpyv7o5wvcf72yxwmpuc4rvkq',
    });
    expect(direct.message).not.toContain('73zwzzy676a2zlks2z3f7ikdoi');
  });
});

describe('tahoeErrorFromTransport', () => {
  function withCode(code: string, message = 'boom'): Error {
    return Object.assign(new Error(message), { code });
  }

  it.each<[string, TahoeErrorCode]>([
    ['ECONNREFUSED', 'UNAVAILABLE'],
    ['ECONNRESET', 'UNAVAILABLE'],
    ['UND_ERR_CONNECT_TIMEOUT', 'UNAVAILABLE'],
    ['UND_ERR_HEADERS_TIMEOUT', 'UNAVAILABLE'],
    ['UND_ERR_BODY_TIMEOUT', 'UNAVAILABLE'],
    ['UND_ERR_SOCKET', 'UNAVAILABLE'],
    ['UND_ERR_RES_CONTENT_LENGTH_MISMATCH', 'TRUNCATED_BODY'],
    ['UND_ERR_REQ_CONTENT_LENGTH_MISMATCH', 'BAD_REQUEST'],
  ])('should map %s to %s', (code, expected) => {
    expect(tahoeErrorFromTransport('read', withCode(code))).toMatchObject({ code: expected, operation: 'read' });
  });

  it('should look through a wrapping error for the code', () => {
    const wrapped = new TypeError('fetch failed', { cause: withCode('ECONNREFUSED') });
    expect(tahoeErrorFromTransport('gridStatus', wrapped)).toMatchObject({ code: 'UNAVAILABLE' });
  });

  it('should turn a BadCapError into BAD_CAP and leave aborts and unrelated errors alone', () => {
    expect(tahoeErrorFromTransport('read', new BadCapError('malformed', 'bad'))).toMatchObject({ code: 'BAD_CAP' });
    const abort = new DOMException('aborted', 'AbortError');
    expect(tahoeErrorFromTransport('read', abort)).toBe(abort);
    const bug = new RangeError('a bug');
    expect(tahoeErrorFromTransport('read', bug)).toBe(bug);
  });

  it('should redact caps quoted in the message of a transport error it wraps', () => {
    const cause = withCode(
      'UND_ERR_SOCKET',
      'socket closed during GET /uri/URI%3ADIR2%3Azauk2nekb77b6ea63cklotyrm4%3Afw',
    );
    const error = tahoeErrorFromTransport('listDirectory', cause) as TahoeError;
    expect(error.message).not.toContain('zauk2nekb77b6ea63cklotyrm4');
    expect((error.cause as Error).message).not.toContain('zauk2nekb77b6ea63cklotyrm4');
  });
});
