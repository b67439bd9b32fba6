-- Notifications' read state per member (SPEC §12). An org-wide
-- notification is read by each member on their own: a row here when they
-- read that one, and their mark when they last read them all (every
-- notification made until then counts as read at that time), so "mark all
-- read" is one row whatever the number of notifications.
CREATE TABLE notification_reads (
    notification_id BLOB NOT NULL REFERENCES notifications (id) ON DELETE CASCADE,
    user_id BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    read_at TEXT NOT NULL,
    PRIMARY KEY (notification_id, user_id)
);

CREATE TABLE notification_marks (
    org_id BLOB NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    user_id BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    read_all_at TEXT NOT NULL,
    PRIMARY KEY (org_id, user_id)
);
