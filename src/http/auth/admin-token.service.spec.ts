import { loadConfig } from '../../config/config.loader';
import { AdminTokenService } from './admin-token.service';
import { basicPasswordOf, bearerTokenOf } from './admin-auth.guard';
import { isLoopbackHost, metricsNeedToken } from '../../metrics/metrics.controller';

const ADMIN = 'admin-token-0123456789';
const REVEAL = 'reveal-token-0123456789';

describe('AdminTokenService with configured tokens', () => {
  const service = new AdminTokenService(
    loadConfig({ env: { HOME: '/nonexistent' }, flags: { adminToken: ADMIN, adminRevealToken: REVEAL }, cwd: '/' }),
  );
  service.onModuleInit();

  it('should tell the admin token, the reveal token and anything else apart', () => {
    expect(service.authenticate(ADMIN)).toBe('admin');
    expect(service.authenticate(REVEAL)).toBe('reveal');
    expect(service.authenticate(`${ADMIN} `)).toBeUndefined();
    expect(service.authenticate(ADMIN.slice(0, -1))).toBeUndefined();
    expect(service.authenticate('')).toBeUndefined();
    expect(service.authenticate(undefined)).toBeUndefined();
  });
});

describe('reading credentials', () => {
  it('should take a bearer token whatever the case of the scheme, and nothing else', () => {
    expect(bearerTokenOf('Bearer abc')).toBe('abc');
    expect(bearerTokenOf('bearer   abc')).toBe('abc');
    expect(bearerTokenOf('Bearer')).toBeUndefined();
    expect(bearerTokenOf('Bearer a b')).toBeUndefined();
    expect(bearerTokenOf('Basic abc')).toBeUndefined();
    expect(bearerTokenOf(undefined)).toBeUndefined();
  });

  it('should take the password of Basic credentials, colons included', () => {
    expect(basicPasswordOf(`Basic ${Buffer.from('me:pa:ss').toString('base64')}`)).toBe('pa:ss');
    expect(basicPasswordOf(`Basic ${Buffer.from('no-colon').toString('base64')}`)).toBeUndefined();
    expect(basicPasswordOf('Bearer x')).toBeUndefined();
  });
});

describe('whether /metrics needs the token', () => {
  it('should follow metricsAuth, and in auto mode require it only beyond loopback', () => {
    const at = (host: string, metricsAuth: 'auto' | 'on' | 'off') =>
      metricsNeedToken({ metricsAuth, listen: { host, port: 1 } });
    expect(at('127.0.0.1', 'auto')).toBe(false);
    expect(at('::1', 'auto')).toBe(false);
    expect(at('0.0.0.0', 'auto')).toBe(true);
    expect(at('10.1.2.3', 'auto')).toBe(true);
    expect(at('127.0.0.1', 'on')).toBe(true);
    expect(at('0.0.0.0', 'off')).toBe(false);
    expect(isLoopbackHost('127.8.9.10')).toBe(true);
    expect(isLoopbackHost('127.0.0.1.example.com')).toBe(false);
  });
});
