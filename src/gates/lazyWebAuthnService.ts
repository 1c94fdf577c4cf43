import type { WebAuthnService, WebAuthnServiceDeps } from './webauthn.js';

/**
 * A {@link WebAuthnService} that imports @simplewebauthn/server on the first passkey ceremony
 * rather than at start-up (the import costs about half a second of CPU), then delegates to it.
 */
export function createLazyWebAuthnService(deps: WebAuthnServiceDeps): WebAuthnService {
  let loaded: Promise<WebAuthnService> | undefined;
  const service = () =>
    (loaded ??= import('./webauthn.js').then((m) => m.createWebAuthnService(deps)));
  return {
    registrationOptions: async (operator) => (await service()).registrationOptions(operator),
    verifyRegistration: async (operator, response, name) =>
      (await service()).verifyRegistration(operator, response, name),
    listCredentials: async (operator) => (await service()).listCredentials(operator),
    authenticationOptions: async (operator, requestId) =>
      (await service()).authenticationOptions(operator, requestId),
    proofOptions: async (operator) => (await service()).proofOptions(operator),
    verifyAssertion: async (input) => (await service()).verifyAssertion(input),
  };
}
