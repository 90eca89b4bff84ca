DROP TABLE IF EXISTS idempotency_keys, audit_log, events, customers, api_keys, businesses;
