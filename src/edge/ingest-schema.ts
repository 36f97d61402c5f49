/**
 * The schemas of POST /v1/events as fastify sees them, through the TypeBox
 * type provider: the request body model (src/actors/schema.ts) and the answer.
 *
 * The body schema documents the route in the OpenAPI document
 * (openapi-schemas.ts); it is NOT used to validate on the edge thread, which never parses bodies:
 * the shard worker validates each event and answers per event. The answer
 * schema is used: fastify serializes the 200 answer with it
 * (fast-json-stringify), which is cheaper than JSON.stringify on the edge's
 * event loop, and drops anything the contract does not name.
 */
import { Type } from '@sinclair/typebox';
import { RECEIPT_STATUSES } from '../actors/types.js';

export { BatchSchema, BodySchema, EventSchema } from '../actors/schema.js';

const Count = Type.Integer({ minimum: 0 });

export const ReceiptSchema = Type.Object({
  index: Type.Integer({ minimum: 0, description: 'Position of the event in the request, from 0.' }),
  id: Type.String({ description: "The event's id (the client's or the server-assigned one); empty when unreadable." }),
  status: Type.Union(RECEIPT_STATUSES.map((status) => Type.Literal(status))),
  code: Type.Optional(Type.String({ description: 'For rejected: a stable EVT_* code.' })),
  field: Type.Optional(Type.String({ description: 'For rejected: the field at fault, e.g. `name` or `tags/3`.' })),
  message: Type.Optional(Type.String()),
});

export const IngestAnswerSchema = Type.Object(
  {
    batchId: Type.Optional(Type.String({ description: 'The batch id the request carried, echoed.' })),
    counts: Type.Object({ accepted: Count, duplicate: Count, late: Count, tooLate: Count, rejected: Count }),
    receipts: Type.Array(ReceiptSchema, {
      description: 'Non-accepted receipts, in index order; accepted ones too with receipts=all.',
    }),
  },
  { $id: 'IngestAnswer' },
);
