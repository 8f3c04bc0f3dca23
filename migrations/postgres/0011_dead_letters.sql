-- Dead letters that a retry worker can lease (keel::runner; the original's §3.3 and §3.6).
--
-- A worker claims due letters (status 'pending', next_retry_at passed) or letters whose lease
-- ran out (status 'retrying' or 'accepted', locked_until passed) in one statement with
-- FOR UPDATE SKIP LOCKED, which adds one to fencing_token. Every statement that completes,
-- fails or extends a letter names the token it was given, so a worker whose lease expired
-- cannot touch a letter another worker now holds.
--
-- - status 'accepted': the handler accepted the letter for asynchronous work; it is resolved
--   by a completion call, or leased again when locked_until passes;
-- - error_kind, error_history: the failures so far (JSON array of {at, kind, message, status,
--   attempt, worker});
-- - abandoned_reason: why the letter stopped being retried;
-- - org_ref, user_ref: the raw ids of callers whose ids are not UUIDs ('system'), which
--   org_id and user_id cannot hold.

ALTER TABLE keel.agent_dead_letters
    ADD COLUMN error_kind       text,
    ADD COLUMN error_history    jsonb NOT NULL DEFAULT '[]'::jsonb,
    ADD COLUMN fencing_token    bigint NOT NULL DEFAULT 0,
    ADD COLUMN abandoned_reason text,
    ADD COLUMN org_ref          text,
    ADD COLUMN user_ref         text,
    ADD COLUMN updated_at       timestamptz NOT NULL DEFAULT now();

ALTER TABLE keel.agent_dead_letters DROP CONSTRAINT agent_dead_letters_status_check;
ALTER TABLE keel.agent_dead_letters ADD CONSTRAINT agent_dead_letters_status_check
    CHECK (status IN ('pending', 'retrying', 'accepted', 'resolved', 'abandoned'));

DROP INDEX keel.agent_dead_letters_due_idx;
CREATE INDEX agent_dead_letters_due_idx ON keel.agent_dead_letters (next_retry_at)
    WHERE status = 'pending';
CREATE INDEX agent_dead_letters_lease_idx ON keel.agent_dead_letters (locked_until)
    WHERE status IN ('retrying', 'accepted');
CREATE INDEX agent_dead_letters_status_idx ON keel.agent_dead_letters (status, created_at DESC);
