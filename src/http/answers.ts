// Wire-format schemas of what both listeners answer, the counterpart of validation.ts (what they
// accept). Nothing parses answers with them at run time: the code that builds each answer checks
// its type against them (`satisfies`), openapi.ts turns them into the document's response bodies,
// and the contract test validates real answers against that document. Objects are closed
// (additionalProperties: false in the document), so a field added to an answer but not here fails
// that test.
import { z } from 'zod';
import { KEY_PATTERN, TICKET_PATTERN, TOKEN_PATTERN } from '../core/secrets.js';
import { SESSION_STATUSES } from '../core/session.js';

const key = z.string().regex(KEY_PATTERN).meta({ description: 'The session key (128 random bits, base64url): what the QR carries.' });
const status = z.enum(SESSION_STATUSES);
const version = z.number().int().min(0).meta({ description: 'Bumped by one on every change of status.' });
const epochMs = z.number().int().min(0).meta({ description: 'Epoch milliseconds.' });
const data = z.record(z.string(), z.unknown()).meta({ description: 'The JSON object the status was set with.' });

/** The browser that minted the session: the phone shows it before confirming; a redemption names it. */
export const clientInfo = z.object({
  ip: z.string().meta({ description: "The minting browser's address (see TRUST_PROXY)." }),
  userAgent: z.string().max(512),
  acceptLanguage: z.string().max(128),
  createdAt: epochMs,
});

export const newSessionAnswer = z.object({
  key,
  pollToken: z.string().regex(TOKEN_PATTERN).meta({ description: 'Bearer token for GET /status/get (256 random bits); kept by the page, never put in the QR.' }),
  status: z.literal('pending'),
  version: z.literal(0),
  expiresAt: epochMs,
  holdMs: z.number().int().min(1).meta({ description: 'The longest hold of one poll (HOLD_MS).' }),
  scanUrl: z.string().meta({ description: 'SCAN_URL_BASE with ?key= added: the URL the QR encodes.' }),
});

export const pollAnswerBody = z.object({
  key,
  status,
  version,
  expiresAt: epochMs,
  data: data.optional(),
  ticket: z
    .string()
    .regex(TICKET_PATTERN)
    .optional()
    .meta({ description: 'Only in the one answer that hands out `confirmed`: the one-time ticket the site redeems (POST /ticket/redeem).' }),
});

export const setAnswer = z.object({
  key,
  status,
  version,
  delivered: z.boolean().meta({ description: 'Whether a held poll was woken, on whichever node held it.' }),
  client: clientInfo,
});

export const peekAnswer = z.object({
  key,
  status,
  version,
  expiresAt: epochMs,
  actor: z.string().optional(),
  data: data.optional(),
  delivered: z.boolean().meta({ description: 'Whether the final status was handed to a poll; from then on neither actor nor data is kept.' }),
  client: clientInfo,
});

export const redemptionAnswer = z.object({
  key,
  actor: z.string().optional().meta({ description: 'Who confirmed: sign the browser in as this user.' }),
  data: data.optional(),
  client: clientInfo,
  confirmedAt: epochMs,
});

/** One change: whether it woke a poll; a batch: the same for each change, in the batch's order. */
export const channelAnswer = z.union([
  z.object({ delivered: z.boolean().meta({ description: 'Whether a poll held on this node was woken.' }) }),
  z.object({ delivered: z.array(z.boolean()).meta({ description: 'For a batch: whether each change woke a poll held on this node, in the batch\'s order.' }) }),
]);

export const healthAnswer = z.object({ status: z.literal('ok') });
export const readyAnswer = z.object({ status: z.literal('ready') });

export const errorBody = z.object({
  error: z.object({
    code: z.string().meta({ description: 'Stable: match on it.' }),
    message: z.string().meta({ description: 'For people: never match on it.' }),
  }),
});

export type NewSessionAnswer = z.output<typeof newSessionAnswer>;
export type PollAnswerBody = z.output<typeof pollAnswerBody>;
export type SetAnswer = z.output<typeof setAnswer>;
export type PeekAnswer = z.output<typeof peekAnswer>;
export type RedemptionAnswer = z.output<typeof redemptionAnswer>;
export type ChannelAnswer = z.output<typeof channelAnswer>;
export type HealthAnswer = z.output<typeof healthAnswer>;
export type ReadyAnswer = z.output<typeof readyAnswer>;
export type ErrorBody = z.output<typeof errorBody>;
