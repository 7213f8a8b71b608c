// FHIR R4 rest-hook requests: shape per payload, secrets from configuration, HMAC verification, failures surfaced.
import { expect } from 'chai';
import type { Bundle, Subscription, Task } from '@medplum/fhirtypes';
import { restHookRequest, secretFor, sendRestHook, sign, verifySignature } from './rest-hook.js';
import { PAYLOAD_CONTENT_URL } from './subscription-model.js';
import { startReceiver, type Receiver } from './test-receiver.js';

const task: Task = { resourceType: 'Task', id: 't1', meta: { versionId: '3' }, status: 'requested', intent: 'order' };
const sub = (channel: Partial<Subscription['channel']>, id = 's1'): Subscription => ({
  resourceType: 'Subscription', id, status: 'active', reason: 'x', criteria: 'Task', channel: { type: 'rest-hook', endpoint: 'https://dpi.example/hooks/teleo/', ...channel },
});

describe('rest-hook channel', () => {
  let receiver: Receiver;
  before(async () => { receiver = await startReceiver(); });
  after(() => receiver.close());

  it('takes the secret configured for the Subscription, else for the longest endpoint prefix, else none', () => {
    const secrets = { 'https://dpi.example/': 'site-secret-0123456789', 'https://dpi.example/hooks/': 'hook-secret-0123456789', 'Subscription/s2': 'own-secret-0123456789' };
    expect(secretFor(secrets, sub({}))).to.equal('hook-secret-0123456789');
    expect(secretFor(secrets, sub({}, 's2'))).to.equal('own-secret-0123456789');
    expect(secretFor(secrets, sub({ endpoint: 'https://other.example/x' }))).to.equal(undefined);
  });

  it('POSTs a history Bundle naming the resource for id-only, signed over the exact body', () => {
    const req = restHookRequest(sub({ payload: 'application/fhir+json', _payload: { extension: [{ url: PAYLOAD_CONTENT_URL, valueCode: 'id-only' }] } } as Partial<Subscription['channel']>),
      task, { baseUrl: 'https://teleo.example/fhir', secret: 'k-0123456789abcdef' });
    expect(req.method).to.equal('POST');
    expect(req.url).to.equal('https://dpi.example/hooks/teleo');
    const bundle = JSON.parse(req.body) as Bundle;
    expect(bundle.type).to.equal('history');
    expect(bundle.entry?.[0]?.fullUrl).to.equal('https://teleo.example/fhir/Task/t1');
    expect(bundle.entry?.[0]).to.not.have.property('resource');
    expect(req.headers['X-Teleo-Signature']).to.equal(sign('k-0123456789abcdef', req.body));
    expect(verifySignature('k-0123456789abcdef', req.body, req.headers['X-Teleo-Signature'])).to.equal(true);
    expect(verifySignature('another-secret-000', req.body, req.headers['X-Teleo-Signature'])).to.equal(false);
  });

  it('resolves on 2xx and throws with the status otherwise, or with the network error', async () => {
    const ok = restHookRequest(sub({ endpoint: `${receiver.url}/ok` }), task, { baseUrl: 'x' });
    await sendRestHook(ok, 2000);
    receiver.status = 410;
    const err = await sendRestHook(ok, 2000).then(() => '', (e: Error) => e.message);
    expect(err).to.contain('HTTP 410');
    receiver.status = 200;
    const closed = await startReceiver();
    await closed.close();
    const refused = await sendRestHook(restHookRequest(sub({ endpoint: `${closed.url}/none` }), task, { baseUrl: 'x' }), 2000).then(() => '', (e: Error) => e.message);
    expect(refused).to.contain('ECONNREFUSED');
  });
});
