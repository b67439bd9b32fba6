-- Notifications' read state per member (SPEC §12). An org-wide
-- notification is read by each member on their own: a row here when they
-- read that one, and their mark when they last read them all (every
-- notification made until then counts as read at that time), so "mark all
-- read" is one row whatever the number of notifications.
CREATE TABLE notification_reads (
    notification_id UUID NOT NULL REFERENCES notifications (id) ON DELETE CASCADE,
    user_id UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    read_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (notification_id, user_id)
);

CREATE TABLE notification_marks (
    org_id UUID NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    user_id UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    read_all_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (org_id, user_id)
);

-- Every process hears of a new notification when its transaction commits
-- (and not if it rolls back), whichever code wrote it: the same signal as
-- `domain::events` sends, `notification:<org id>`.
CREATE FUNCTION alumia_notification_created() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('alumia_events', 'notification:' || NEW.org_id::text);
    RETURN NEW;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER notifications_created AFTER INSERT ON notifications
    FOR EACH ROW EXECUTE FUNCTION alumia_notification_created();
