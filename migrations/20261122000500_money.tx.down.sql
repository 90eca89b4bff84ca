DROP TABLE IF EXISTS conversions, quotes, transfers, payouts, deposits, deposit_addresses, payout_fees,
	unmatched_deposits, fx_rates, risk_addresses, rail_keys;
