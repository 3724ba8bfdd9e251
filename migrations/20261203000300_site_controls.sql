-- Issue 18: the customer's controls. Start, stop, restart and delete are jobs of the
-- provisioning worker, as provisioning is: a site has a job per action, run in the order
-- asked (the worker claims a job's step only when no earlier job of the site is
-- unfinished). Deleting keeps the site's files for a grace period: its last step, removing
-- them, is due 7 days later, and staff restoring the site cancels it.

alter table provisioning_jobs
    drop constraint provisioning_jobs_site_id_key,
    add column kind text not null default 'provision'
        check (kind in ('provision', 'start', 'stop', 'restart', 'delete', 'restore'));
create index provisioning_jobs_site on provisioning_jobs (site_id, id);
create index provisioning_jobs_unfinished on provisioning_jobs (site_id, id) where status in ('pending', 'running');

alter table job_steps drop constraint job_steps_name_check,
    add constraint job_steps_name_check check (name in (
        'allocate_address', 'create_container', 'create_environments', 'attach_aliases', 'write_dns',
        'start_container', 'stop_container', 'restart_container',
        'remove_container', 'free_address', 'remove_dns', 'purge_files'));
-- A step a later decision made unnecessary: the files' removal, when staff restore the site.
alter table job_steps drop constraint job_steps_status_check,
    add constraint job_steps_status_check check (status in ('pending', 'done', 'failed', 'cancelled'));

-- A deleted site stays, shown as deleted, with its Activity and bandwidth; its hostnames
-- stay reserved to it until its files are removed.
alter table sites drop constraint sites_status_check,
    add constraint sites_status_check check (status in ('provisioning', 'active', 'failed', 'deleted')),
    add column deleted_at timestamptz,
    add column files_removed_at timestamptz;

-- Staff restoring a deleted site is in the staff's own log too.
alter table staff_activity drop constraint staff_activity_kind_check,
    add constraint staff_activity_kind_check
        check (kind in ('sign_in', 'sign_in_failed', 'sign_in_locked', 'sign_out', 'site_restored'));
