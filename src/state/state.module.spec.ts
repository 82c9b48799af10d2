import { Test } from '@nestjs/testing';
import { InProcessStateStore } from './in-process-state-store';
import { StateModule } from './state.module';
import { StateStore } from './state-store';

describe('StateModule', () => {
  it('should provide an in-process store when no Redis is configured, and close it on shutdown', async () => {
    const moduleRef = await Test.createTestingModule({
      imports: [StateModule.forRoot({ redis: undefined })],
    }).compile();
    const store = moduleRef.get(StateStore);

    expect(store).toBeInstanceOf(InProcessStateStore);
    expect(store.health()).toMatchObject({ backend: 'in-process', status: 'up' });
    await moduleRef.close();
    expect(store.health().status).toBe('closed');
    await expect(store.getCounter('x')).rejects.toMatchObject({ code: 'CLOSED' });
  });
});
