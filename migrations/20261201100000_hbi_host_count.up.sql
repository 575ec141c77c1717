-- Hosts per org, kept by the writes themselves, so that GET /hosts' total
-- (every host of the org that is not culled) does not count 10,000s of
-- index entries (and heap pages, once check-ins clear the visibility map)
-- on every page: total = sum(n) of the org - its culled hosts the reaper
-- has not deleted yet (an index range, usually empty). docs/hosts.md.
--
-- Each writing backend adds to its own slot (pg_backend_pid() % 64), so
-- concurrent writers of one org do not queue on one row; a reader sums at
-- most 64 rows. Rows are upserted in org order: no deadlock between two
-- backends that share a slot.
CREATE TABLE IF NOT EXISTS hbi_host_count (
    org_id varchar(36) NOT NULL,
    slot smallint NOT NULL,
    n bigint NOT NULL,
    PRIMARY KEY (org_id, slot)
);

CREATE OR REPLACE FUNCTION hbi_host_count_add() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO hbi_host_count AS c (org_id, slot, n)
        SELECT org_id, pg_backend_pid() % 64, count(*) FROM added GROUP BY org_id ORDER BY org_id
        ON CONFLICT (org_id, slot) DO UPDATE SET n = c.n + excluded.n;
    ELSE
        INSERT INTO hbi_host_count AS c (org_id, slot, n)
        SELECT org_id, pg_backend_pid() % 64, -count(*) FROM removed GROUP BY org_id
         ORDER BY org_id
        ON CONFLICT (org_id, slot) DO UPDATE SET n = c.n + excluded.n;
    END IF;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION hbi_host_count_clear() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM hbi_host_count;
    RETURN NULL;
END $$;

-- A host never moves to another org (nothing we run sets org_id; this
-- keeps the counts true against a hand-written UPDATE too). Only an
-- UPDATE that names org_id fires it.
CREATE OR REPLACE FUNCTION hbi_host_org_fixed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'hbi_host.org_id cannot change (host %)', OLD.id
        USING ERRCODE = 'check_violation';
END $$;

CREATE TRIGGER hbi_host_count_ins AFTER INSERT ON hbi_host
    REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION hbi_host_count_add();
CREATE TRIGGER hbi_host_count_del AFTER DELETE ON hbi_host
    REFERENCING OLD TABLE AS removed FOR EACH STATEMENT EXECUTE FUNCTION hbi_host_count_add();
CREATE TRIGGER hbi_host_count_trunc AFTER TRUNCATE ON hbi_host
    FOR EACH STATEMENT EXECUTE FUNCTION hbi_host_count_clear();
CREATE TRIGGER hbi_host_org_fixed BEFORE UPDATE OF org_id ON hbi_host
    FOR EACH ROW WHEN (OLD.org_id IS DISTINCT FROM NEW.org_id)
    EXECUTE FUNCTION hbi_host_org_fixed();

-- The hosts already there (the triggers above hold off writers until
-- this transaction commits).
DELETE FROM hbi_host_count;
INSERT INTO hbi_host_count (org_id, slot, n)
SELECT org_id, 0, count(*) FROM hbi_host GROUP BY org_id;
