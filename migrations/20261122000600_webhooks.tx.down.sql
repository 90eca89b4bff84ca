-- Undo the webhook schema; events themselves stay (they belong to the foundation).
DROP TRIGGER IF EXISTS events_webhook_fan_out ON events;
DROP FUNCTION IF EXISTS webhook_fan_out();
DROP TABLE IF EXISTS webhook_attempts;
DROP TABLE IF EXISTS webhook_deliveries;
DROP TABLE IF EXISTS webhook_endpoints;
