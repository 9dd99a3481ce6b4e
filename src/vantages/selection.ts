// A request's `vantages` as the HTTP routes (POST /probe, POST /batches) answer it: the live vantages it names,
// or the problem to answer with.
import { HttpProblem, unavailableOnRedisError } from '../requests/problems.js';
import {
  type LiveVantage,
  selectLiveVantages,
  type VantageRegistry,
  type VantageSelection,
} from './registry.js';

/** A request names vantages, but this service runs none: a 422 on the `vantages` field. */
export function noVantagePoints(): HttpProblem {
  return new HttpProblem(422, 'invalidRequest', 'this service runs no vantage points', {
    errors: [{ field: 'vantages', message: 'no vantage registry' }],
  });
}

/** The live vantages a request names; one named explicitly that is unknown or gone is a 422, Redis down a 503. */
export async function selectedVantages(
  registry: VantageRegistry,
  selection: VantageSelection,
): Promise<LiveVantage[]> {
  const outcome = await unavailableOnRedisError(
    () => selectLiveVantages(registry, selection),
    'the vantage registry (Redis)',
  );
  if (!outcome.isSelected) {
    throw new HttpProblem(422, 'invalidRequest', outcome.reason, {
      errors: [{ field: outcome.field, message: outcome.reason }],
    });
  }
  return outcome.vantages;
}
