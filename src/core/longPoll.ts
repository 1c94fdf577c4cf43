/**
 * Long-poll bounds shared by every wait (`wait_for_approval`, `wait_for_handoff`, the HTTP
 * `max_wait_seconds` routes). MCP clients time a tool call out at 60 s by default, so no single
 * wait may block longer than 50 s; callers that need longer call again.
 */
export const maxWaitSeconds = 50;

/** The wait, in seconds, when the caller gives none. */
export const defaultWaitSeconds = 45;
