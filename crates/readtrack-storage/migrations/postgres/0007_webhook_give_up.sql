-- Deliveries stop retrying after a bounded window (abandoned_at), and an endpoint that
-- failed for that long is disabled with a reason the admins see.
ALTER TABLE webhook_deliveries ADD COLUMN abandoned_at BIGINT;
ALTER TABLE webhooks ADD COLUMN disabled_at BIGINT;
ALTER TABLE webhooks ADD COLUMN disabled_reason TEXT;
