-- The entry that ends a hold (posts or voids it) names the hold in pending_id. At
-- most one entry may end a hold: the index makes that a constraint (tally verify's
-- invariant 5 checked it after the fact), and gives that check an index to look
-- entries up by their hold. Without it, with statistics from before a burst of
-- payouts, the planner joined ~100,000 holds to the entries with a nested loop
-- over every entry of the business and `tally verify` ran into its 5-minute
-- timeout (issue 8's benchmark). Only ending entries are in it: transfers,
-- deposits and new holds add nothing to it.
CREATE UNIQUE INDEX ledger_entries_pending ON ledger_entries (business_id, pending_id) WHERE pending_id IS NOT NULL;
