-- Faults: the wizard draft gets a revision, so that a step saved from an older revision
-- (another tab or device saved meanwhile) is told what changed instead of overwriting it,
-- and Create builds only the revision the customer reviewed.
alter table wizard_drafts add column revision bigint not null default 1;
