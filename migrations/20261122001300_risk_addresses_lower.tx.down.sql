DROP INDEX IF EXISTS risk_addresses_lower;
