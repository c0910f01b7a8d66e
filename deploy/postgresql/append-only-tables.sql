-- Autovacuum tuned per table for volunteer_app's tables that only grow (run once, as the tables' owner:
--   psql "$DATABASE_URL" -f deploy/postgresql/append-only-tables.sql
-- The settings are table storage parameters: pg_dump keeps them, a restore brings them back).
-- A vacuum after every 1% of new rows (at least 10,000) keeps the visibility map current for index-only
-- scans and freezes rows in small steps; analyze after 1% keeps the planner's row estimates current.
ALTER TABLE time_transfers SET (autovacuum_vacuum_insert_scale_factor = 0.01, autovacuum_vacuum_insert_threshold = 10000, autovacuum_analyze_scale_factor = 0.01);
ALTER TABLE time_entries SET (autovacuum_vacuum_insert_scale_factor = 0.01, autovacuum_vacuum_insert_threshold = 10000, autovacuum_analyze_scale_factor = 0.01);
ALTER TABLE order_events SET (autovacuum_vacuum_insert_scale_factor = 0.01, autovacuum_vacuum_insert_threshold = 10000, autovacuum_analyze_scale_factor = 0.01);
ALTER TABLE supervision_events SET (autovacuum_vacuum_insert_scale_factor = 0.01, autovacuum_vacuum_insert_threshold = 10000, autovacuum_analyze_scale_factor = 0.01);
ALTER TABLE notifications SET (autovacuum_vacuum_insert_scale_factor = 0.01, autovacuum_vacuum_insert_threshold = 10000, autovacuum_analyze_scale_factor = 0.01);
-- The outbox is updated as it is sent (pending -> sent): dead rows, not only inserts.
ALTER TABLE notification_outbox SET (autovacuum_vacuum_scale_factor = 0.02, autovacuum_vacuum_insert_scale_factor = 0.01, autovacuum_analyze_scale_factor = 0.02);
