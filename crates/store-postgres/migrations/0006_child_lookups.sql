-- One child's page reads only that child's records: the reports linked to it, and the
-- register's first day (the programme's start) without reading the whole register.
-- Unlinked reports (no child) stay out of the first index, so intake does not pay for it.
CREATE INDEX link_decisions_melde_id ON link_decisions (melde_id) WHERE melde_id IS NOT NULL;
CREATE INDEX registry_events_event_date ON registry_events (event_date);
