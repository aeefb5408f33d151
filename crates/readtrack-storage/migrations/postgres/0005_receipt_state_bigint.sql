-- Every integer column is BIGINT, as on SQLite, so both backends read rows the same way.
ALTER TABLE receipts ALTER COLUMN state TYPE BIGINT;
