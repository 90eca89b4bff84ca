-- Risk-list lookups compare addresses case-insensitively (EVM addresses arrive in
-- checksum case); this index serves them on every payout and deposit.
CREATE INDEX risk_addresses_lower ON risk_addresses (network, lower(address));
