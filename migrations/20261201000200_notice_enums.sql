-- The status and type columns of notices and contacts list their values, as the Rust enums
-- that read them do (notices::model::Severity, contacts::model::MethodKind). The catalogue
-- foreign keys stay: they give the labels and the order.
alter table notices
    add constraint notices_severity_check check (severity in ('info', 'warning', 'critical'));
alter table contact_methods
    add constraint contact_methods_method_id_check check (method_id in ('email', 'sms', 'phone', 'webhook'));
-- A subscription's minimum severity (absent: info).
alter table contact_method_notices
    add constraint contact_method_notices_min_severity_check
        check (coalesce(options ->> 'min_severity', 'info') in ('info', 'warning', 'critical'));
