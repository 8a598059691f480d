/**
 * Data-subject requests: a person's export, erasure or consent withdrawal, asked for on their
 * account page or entered by staff, each with a due date (one month by default: GDPR Art. 12(3))
 * and, once handled, an outcome and a receipt. The receipt is rebuilt from the stored row; its
 * SHA-256 is kept with the row and in the audit chain, so a receipt shown later can be checked
 * against both. Carrying a request out is src/biometrics/subjectRequests.ts.
 */
import { createHash, randomUUID } from 'node:crypto';
import canonicalize from 'canonicalize';
import { audit } from '../audit/audit.js';
import type { Database } from '../db/database.js';
import { errorKind, invalidRequest } from '../errors.js';

export class SubjectRequestError extends errorKind(invalidRequest(1)) {}

export const REQUEST_KINDS = ['export', 'erasure', 'withdrawal'] as const;
export type RequestKind = (typeof REQUEST_KINDS)[number];
export type RequestSource = 'account' | 'staff' | 'cli';
export const DEFAULT_DUE_DAYS = 30;

export interface SubjectRequestRecord {
  id: string;
  personId: string;
  tenantId: string | null;
  kind: string;
  source: string;
  enteredBy: string | null;
  receivedAt: Date;
  dueAt: Date;
  status: string;
  completedAt: Date | null;
  handledBy: string | null;
  outcome: string | null;
  receiptHash: string | null;
}

export function isRequestKind(value: unknown): value is RequestKind {
  return typeof value === 'string' && (REQUEST_KINDS as readonly string[]).includes(value);
}

export async function openSubjectRequest(
  db: Database,
  input: {
    personId: string;
    kind: RequestKind;
    tenantId?: string | null;
    source: RequestSource;
    enteredBy?: string | null;
    dueDays?: number;
    now?: Date;
  },
): Promise<SubjectRequestRecord> {
  if (input.kind === 'withdrawal' && !input.tenantId)
    throw new SubjectRequestError('a consent withdrawal names the tenant whose consent ends');
  const dueDays = input.dueDays ?? DEFAULT_DUE_DAYS;
  if (!Number.isInteger(dueDays) || dueDays < 1 || dueDays > 90)
    throw new SubjectRequestError('the due date is 1 to 90 days away');
  const receivedAt = input.now ?? new Date();
  const request = await db.prisma.subjectRequest.create({
    data: {
      id: randomUUID(),
      personId: input.personId,
      tenantId: input.tenantId ?? null,
      kind: input.kind,
      source: input.source,
      enteredBy: input.enteredBy ?? null,
      receivedAt,
      dueAt: new Date(receivedAt.getTime() + dueDays * 86_400_000),
    },
  });
  await audit(db, {
    action: 'request.received',
    actor: input.enteredBy ?? input.personId,
    subject: input.personId,
    detail: { request: request.id, kind: input.kind, ...(input.tenantId ? { tenant: input.tenantId } : {}) },
  });
  return request;
}

export async function findSubjectRequest(db: Database, id: string): Promise<SubjectRequestRecord | null> {
  return db.prisma.subjectRequest.findUnique({ where: { id } });
}

export async function listSubjectRequests(
  db: Database,
  filter: { status?: 'open' | 'done' | 'refused'; personId?: string; tenantId?: string; overdueAt?: Date } = {},
): Promise<SubjectRequestRecord[]> {
  return db.prisma.subjectRequest.findMany({
    where: {
      status: filter.status,
      personId: filter.personId,
      tenantId: filter.tenantId,
      ...(filter.overdueAt ? { status: 'open', dueAt: { lt: filter.overdueAt } } : {}),
    },
    orderBy: [{ status: 'asc' }, { dueAt: 'asc' }],
    take: 1000,
  });
}

/** The receipt: what was asked, when, and what was done, as JSON; its hash is kept. */
export function requestReceipt(request: SubjectRequestRecord) {
  return {
    format: 'palmid-request-receipt',
    version: 1,
    request: request.id,
    kind: request.kind,
    person: request.personId,
    tenant: request.tenantId,
    source: request.source,
    receivedAt: request.receivedAt.toISOString(),
    dueAt: request.dueAt.toISOString(),
    status: request.status,
    completedAt: request.completedAt?.toISOString() ?? null,
    handledBy: request.handledBy,
    outcome: request.outcome,
  };
}

export function receiptHash(receipt: ReturnType<typeof requestReceipt>): string {
  return createHash('sha256')
    .update(canonicalize(receipt) ?? '', 'utf8')
    .digest('hex');
}

/**
 * Closes an open request as done or refused, once: a second close (two staff members at once)
 * finds it no longer open and is refused.
 */
export async function closeSubjectRequest(
  db: Database,
  id: string,
  close: { status: 'done' | 'refused'; outcome: string; handledBy: string; now?: Date },
): Promise<{ request: SubjectRequestRecord; receipt: ReturnType<typeof requestReceipt>; hash: string }> {
  const outcome = close.outcome.trim().slice(0, 2000);
  if (!outcome) throw new SubjectRequestError('say what was done (the outcome)');
  const current = await findSubjectRequest(db, id);
  if (!current) throw new SubjectRequestError(`no request ${id}`);
  const closed: SubjectRequestRecord = {
    ...current,
    status: close.status,
    completedAt: close.now ?? new Date(),
    handledBy: close.handledBy,
    outcome,
  };
  const receipt = requestReceipt(closed);
  const hash = receiptHash(receipt);
  const { count } = await db.prisma.subjectRequest.updateMany({
    where: { id, status: 'open' },
    data: {
      status: closed.status,
      completedAt: closed.completedAt,
      handledBy: closed.handledBy,
      outcome,
      receiptHash: hash,
    },
  });
  if (count !== 1)
    throw new SubjectRequestError(`request ${id} is already ${current.status === 'open' ? 'closed' : current.status}`);
  await audit(db, {
    action: close.status === 'done' ? 'request.completed' : 'request.refused',
    actor: close.handledBy,
    subject: current.personId,
    detail: { request: id, kind: current.kind, receipt: hash },
  });
  return { request: { ...closed, receiptHash: hash }, receipt, hash };
}

/**
 * A request the person carried out themselves on their account page (export, withdrawal): it is
 * queued as received and closed at once, so that the queue and its receipts hold every request,
 * whoever handled it.
 */
export async function recordSelfServiceRequest(
  db: Database,
  input: { personId: string; kind: RequestKind; tenantId?: string | null; outcome: string },
) {
  const request = await openSubjectRequest(db, { ...input, source: 'account', enteredBy: input.personId });
  return closeSubjectRequest(db, request.id, { status: 'done', outcome: input.outcome, handledBy: input.personId });
}
