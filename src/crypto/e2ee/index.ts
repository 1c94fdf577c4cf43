/**
 * The handoff's end-to-end encryption, shared by the agent side (Node) and the viewer page
 * (served as `/assets/e2ee/index.js`). WebCrypto only; relative imports only.
 */
export { decodeBase64url, encodeBase64url } from './base64url.js';
export { E2eeError, isE2eeError, type E2eeErrorCode } from './e2eeError.js';
export {
  createE2eeSession,
  E2eeSession,
  e2eeDataHeaderLength,
  e2eeMessageType,
  e2eeRoleByte,
  e2eeVersion,
  type E2eeReceiveResult,
  type E2eeRole,
  type E2eeSessionOptions,
  type E2eeState,
} from './e2eeSession.js';
export {
  fragmentSecretBytes,
  generateFragmentSecret,
  readFragmentSecret,
} from './fragmentSecret.js';
export {
  decodeHandoffPayload,
  encodeFramePayload,
  encodeMessagePayload,
  payloadKind,
  type FrameMeta,
  type HandoffPayload,
} from './handoffPayload.js';
