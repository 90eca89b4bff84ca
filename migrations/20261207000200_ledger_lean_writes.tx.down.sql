DROP TRIGGER businesses_no_truncate ON businesses;
DROP TRIGGER businesses_permanent ON businesses;
DROP FUNCTION businesses_permanent();

ALTER TABLE idempotency_keys ADD CONSTRAINT idempotency_keys_business_id_fkey FOREIGN KEY (business_id) REFERENCES businesses (id);
ALTER TABLE audit_log ADD CONSTRAINT audit_log_business_id_fkey FOREIGN KEY (business_id) REFERENCES businesses (id);
ALTER TABLE events ADD CONSTRAINT events_business_id_fkey FOREIGN KEY (business_id) REFERENCES businesses (id);
ALTER TABLE payouts ADD CONSTRAINT payouts_business_id_fkey FOREIGN KEY (business_id) REFERENCES businesses (id);
ALTER TABLE transfers ADD CONSTRAINT transfers_business_id_fkey FOREIGN KEY (business_id) REFERENCES businesses (id);
ALTER TABLE ledger_holds ADD CONSTRAINT ledger_holds_business_id_fkey FOREIGN KEY (business_id) REFERENCES businesses (id);
ALTER TABLE ledger_lines ADD CONSTRAINT ledger_lines_business_id_fkey FOREIGN KEY (business_id) REFERENCES businesses (id);
ALTER TABLE ledger_entries ADD CONSTRAINT ledger_entries_business_id_fkey FOREIGN KEY (business_id) REFERENCES businesses (id);

CREATE INDEX ledger_lines_account ON ledger_lines (business_id, owner_id, purpose, currency, created_at);
CREATE INDEX ledger_lines_entry ON ledger_lines (business_id, entry_id);
ALTER TABLE ledger_lines DROP CONSTRAINT ledger_lines_pkey;
ALTER TABLE ledger_lines ADD PRIMARY KEY (business_id, id);
