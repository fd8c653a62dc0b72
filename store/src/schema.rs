//! The diesel schema, shared by PostgreSQL and SQLite (see migrations/).

diesel::table! {
    tenants (id) {
        id -> Text,
        name -> Text,
        slug -> Text,
        kind -> Text,
        status -> Text,
        max_vcpus -> Integer,
        max_memory_mib -> BigInt,
        max_appliances -> Integer,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    users (id) {
        id -> Text,
        tenant_id -> Text,
        email -> Text,
        name -> Text,
        role -> Text,
        password_hash -> Text,
        disabled -> Bool,
        token_version -> Integer,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    projects (id) {
        id -> Text,
        tenant_id -> Text,
        name -> Text,
        description -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    project_assignments (project_id, user_id) {
        project_id -> Text,
        user_id -> Text,
        tenant_id -> Text,
        assigned_at -> Timestamp,
    }
}

diesel::table! {
    refresh_tokens (id) {
        id -> Text,
        family_id -> Text,
        user_id -> Text,
        tenant_id -> Text,
        token_hash -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
        revoked_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    audit_log (id) {
        id -> Text,
        tenant_id -> Text,
        actor_id -> Nullable<Text>,
        actor_email -> Nullable<Text>,
        action -> Text,
        object_type -> Text,
        object_id -> Text,
        detail -> Text,
        source_ip -> Nullable<Text>,
        at -> Timestamp,
    }
}

diesel::table! {
    settings (key) {
        key -> Text,
        value -> Text,
    }
}

diesel::joinable!(users -> tenants (tenant_id));
diesel::joinable!(projects -> tenants (tenant_id));
diesel::joinable!(project_assignments -> projects (project_id));
diesel::joinable!(project_assignments -> users (user_id));
diesel::joinable!(refresh_tokens -> users (user_id));

diesel::allow_tables_to_appear_in_same_query!(
    tenants,
    users,
    projects,
    project_assignments,
    refresh_tokens,
    audit_log,
    settings,
);
