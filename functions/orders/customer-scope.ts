import type { HttpResponseInit } from '@azure/functions';
import type { Caller } from '../../shared/auth/customer-auth.js';
import { problem } from '../../shared/http/problem.js';

/**
 * Orders as seen by a signed-in customer (CUSTOMER_AUTH other than `none`): the customer is the verified caller,
 * never the body, and another customer's order does not exist for them (404, not 403: no existence leak).
 */

/** A body `customerId` that is not the signed-in customer's: 403, so a client bug never acts for someone else. */
export function notTheCaller(caller: Caller): HttpResponseInit {
  return problem(
    403,
    'Not your customer id',
    `You are signed in as customer "${caller.subject}": leave customerId out of the body (it is taken from your sign-in), or send that one.`,
    {
      type: 'not-your-customer-id',
      errors: [{ field: 'customerId', message: 'is not the signed-in customer' }],
    },
  );
}

/** Whether `caller` may see an order of `customerId`: anyone without sign-in (none mode), else its own customer. */
export function visibleTo(caller: Caller | undefined, customerId: string): boolean {
  return caller === undefined || caller.subject === customerId;
}

/**
 * The JSON body a signed-in customer sent, with their customer id filled in when it was left out (a body with a
 * different one stays as it is, for the 403). Bodies that are not JSON objects go to validation unchanged.
 */
export function withCallerCustomer(caller: Caller | undefined) {
  return (body: unknown): unknown =>
    caller && typeof body === 'object' && body !== null && !Array.isArray(body) && !('customerId' in body)
      ? { ...body, customerId: caller.subject }
      : body;
}
