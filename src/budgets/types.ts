/**
 * Per-agent budgets (`budgets:` in rules/agents/NAME.yaml): how much an agent may send, to how many new
 * destinations, and how long one connection may live, with what happens when a budget is spent.
 */

export type BudgetAction = 'alert' | 'deny' | 'quarantine';

export type BudgetName = 'bytes_out' | 'new_destinations' | 'connection_duration';

export interface WindowedBudget {
  limit: number;
  windowMs: number;
  action: BudgetAction;
}

export interface AgentBudgets {
  /** Bytes from the agent to its destinations, summed over all its flows, per window. */
  bytesOut?: WindowedBudget;
  /** Distinct (host or address, port) the agent had not used yet in the window. */
  newDestinations?: WindowedBudget;
  /** The longest one flow may live. */
  connectionDuration?: { maxMs: number; action: BudgetAction };
}
