/**
 * The gates' public API: TOTP (RFC 6238), the policy file, quorum. Pure functions over values
 * the caller loads from and writes back to the store; the only I/O is `readPolicyFile`.
 */
export {
  buildTotpUri,
  createTotpSecret,
  totpParameters,
  type TotpAlgorithm,
} from './totpSecret.js';
export {
  computeTotpTimeStep,
  generateTotpCode,
  verifyTotpCode,
  type TotpFailureReason,
  type TotpOptions,
  type TotpVerification,
} from './totpCode.js';
export {
  createTotpEncryptionKey,
  decryptTotpSecret,
  encryptTotpSecret,
} from './totpSecretEncryption.js';
export {
  applyTotpAttempt,
  attemptTotpCode,
  createTotpThrottleState,
  describeTotpRefusal,
  totpThrottleLimits,
  unlockTotp,
  type TotpAttempt,
  type TotpAttemptOutcome,
  type TotpThrottleState,
} from './totpThrottle.js';
export { renderTotpQr, type TotpQr } from './totpQr.js';
export {
  compileToolGlob,
  defaultTimeoutMinutes,
  gates,
  maxTimeoutMinutes,
  policyModes,
  type CallContext,
  type ConditionOperator,
  type Gate,
  type Policy,
  type PolicyAgent,
  type PolicyMode,
  type PolicyCondition,
  type PolicyQuorum,
  type PolicyRule,
  type QuorumStepUp,
} from './policy.js';
export { parsePolicy, readPolicyFile } from './policyParse.js';
export {
  evaluatePolicy,
  explainPolicy,
  listToolGates,
  type GateDecision,
  type PolicyExplanation,
  type RuleCheck,
} from './policyEvaluate.js';
export {
  describeGate,
  describeToolGates,
  formatCondition,
  formatPolicyExplanation,
  formatRule,
  formatRuleLocation,
} from './policyDescribe.js';
export {
  addQuorumVote,
  evaluateQuorum,
  type QuorumRule,
  type QuorumTally,
  type QuorumVote,
} from './quorum.js';
export {
  claimOtpArgumentAttempt,
  clearOtpArgumentThrottle,
  otpArgumentThrottleLimits,
  type OtpArgumentClaim,
  type OtpArgumentThrottleState,
} from './otpArgumentThrottle.js';
