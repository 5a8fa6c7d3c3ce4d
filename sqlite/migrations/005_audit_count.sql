-- An audit row may stand for several events: repeated refusals from one
-- client are stored as one summary row with their count (contract §12).
ALTER TABLE audit_events ADD COLUMN count INTEGER NOT NULL DEFAULT 1;
