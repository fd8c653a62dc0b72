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
        session_started_at -> Timestamp,
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
        actor_tenant_id -> Nullable<Text>,
        actor_role -> Nullable<Text>,
    }
}

diesel::table! {
    settings (key) {
        key -> Text,
        value -> Text,
    }
}

diesel::table! {
    compute_pools (id) {
        id -> Text,
        name -> Text,
        description -> Text,
        strategy -> Text,
        cpu_overcommit_pct -> Integer,
        ram_overcommit_pct -> Integer,
        disk_overcommit_pct -> Integer,
        image_dir -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        network_bridge -> Nullable<Text>,
        network_cidr -> Nullable<Text>,
        network_gateway -> Nullable<Text>,
        network_agent_url -> Nullable<Text>,
    }
}

diesel::table! {
    ip_addresses (pool_id, address) {
        pool_id -> Text,
        address -> Text,
        number -> BigInt,
        appliance_id -> Nullable<Text>,
        allocated_at -> Timestamp,
        released_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    hosts (id) {
        id -> Text,
        pool_id -> Text,
        name -> Text,
        uri -> Text,
        vcpus -> Integer,
        memory_mib -> BigInt,
        disk_gib -> Integer,
        labels -> Text,
        state -> Text,
        missed_checks -> Integer,
        last_seen_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    images (id) {
        id -> Text,
        pool_id -> Text,
        name -> Text,
        kind -> Text,
        format -> Text,
        file -> Text,
        sha256 -> Text,
        size_bytes -> BigInt,
        created_at -> Timestamp,
    }
}

diesel::table! {
    appliance_templates (id) {
        id -> Text,
        tenant_id -> Nullable<Text>,
        scope -> Text,
        name -> Text,
        role -> Text,
        description -> Text,
        pool_id -> Nullable<Text>,
        image_id -> Nullable<Text>,
        kernel_image_id -> Nullable<Text>,
        initrd_image_id -> Nullable<Text>,
        vcpus -> Integer,
        memory_mib -> Integer,
        disk_gib -> Integer,
        ports -> Text,
        install_scripts -> Text,
        metrics -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    applications (id) {
        id -> Text,
        tenant_id -> Text,
        project_id -> Text,
        name -> Text,
        description -> Text,
        pool_id -> Nullable<Text>,
        deployed -> Bool,
        generation -> BigInt,
        reconcile_after -> Timestamp,
        lease_owner -> Nullable<Text>,
        lease_expires_at -> Nullable<Timestamp>,
        failures -> Integer,
        last_error -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        defaults_wired -> Integer,
    }
}

diesel::table! {
    layers (id) {
        id -> Text,
        tenant_id -> Text,
        application_id -> Text,
        name -> Text,
        position -> Integer,
        created_at -> Timestamp,
    }
}

diesel::table! {
    appliance_groups (id) {
        id -> Text,
        tenant_id -> Text,
        application_id -> Text,
        layer_id -> Text,
        name -> Text,
        template_id -> Text,
        desired -> Integer,
        min_count -> Integer,
        max_count -> Integer,
        service_ensure -> Bool,
        autoscale -> Nullable<Text>,
        load_pct -> Integer,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    appliances (id) {
        id -> Text,
        tenant_id -> Text,
        application_id -> Text,
        group_id -> Text,
        template_id -> Text,
        name -> Text,
        state -> Text,
        state_reason -> Text,
        state_since -> Timestamp,
        target -> Text,
        host_id -> Nullable<Text>,
        ip -> Nullable<Text>,
        vcpus -> Integer,
        memory_mib -> Integer,
        disk_gib -> Integer,
        last_heartbeat_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    appliance_events (id) {
        id -> Text,
        tenant_id -> Text,
        appliance_id -> Text,
        application_id -> Text,
        from_state -> Nullable<Text>,
        to_state -> Text,
        reason -> Text,
        at -> Timestamp,
    }
}

diesel::table! {
    events (id) {
        id -> Text,
        tenant_id -> Text,
        #[sql_name = "type"]
        type_ -> Text,
        application_id -> Nullable<Text>,
        appliance_id -> Nullable<Text>,
        host_id -> Nullable<Text>,
        detail -> Text,
        at -> Timestamp,
        dispatched -> Bool,
    }
}

diesel::table! {
    cloudscripts (id) {
        id -> Text,
        tenant_id -> Nullable<Text>,
        scope -> Text,
        name -> Text,
        description -> Text,
        latest_version -> Integer,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    cloudscript_versions (script_id, version) {
        script_id -> Text,
        version -> Integer,
        body -> Text,
        variables -> Text,
        timeout_secs -> Integer,
        created_at -> Timestamp,
    }
}

diesel::table! {
    event_rules (id) {
        id -> Text,
        tenant_id -> Text,
        application_id -> Text,
        name -> Text,
        event_type -> Text,
        filter -> Text,
        condition -> Nullable<Text>,
        cooldown_secs -> Integer,
        schedule -> Nullable<Text>,
        steps -> Text,
        enabled -> Bool,
        origin -> Text,
        last_fired_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    action_runs (id) {
        id -> Text,
        tenant_id -> Text,
        application_id -> Text,
        rule_id -> Text,
        event_id -> Text,
        event_type -> Text,
        appliance_id -> Nullable<Text>,
        status -> Text,
        step -> Integer,
        chain -> Text,
        steps -> Text,
        next_at -> Timestamp,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        finished_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    script_jobs (id) {
        id -> Text,
        tenant_id -> Text,
        application_id -> Text,
        appliance_id -> Text,
        run_id -> Nullable<Text>,
        step -> Nullable<Integer>,
        purpose -> Text,
        script_id -> Text,
        script_name -> Text,
        version -> Integer,
        body -> Text,
        env -> Text,
        secrets -> Text,
        shown -> Text,
        timeout_secs -> Integer,
        status -> Text,
        exit_code -> Nullable<Integer>,
        stdout -> Text,
        stderr -> Text,
        created_at -> Timestamp,
        started_at -> Nullable<Timestamp>,
        finished_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    appliance_metrics (appliance_id) {
        appliance_id -> Text,
        tenant_id -> Text,
        at -> Timestamp,
        report -> Text,
    }
}

diesel::table! {
    leases (name) {
        name -> Text,
        owner -> Text,
        expires_at -> Timestamp,
    }
}

diesel::joinable!(hosts -> compute_pools (pool_id));
diesel::joinable!(images -> compute_pools (pool_id));
diesel::joinable!(appliance_groups -> appliance_templates (template_id));

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
    compute_pools,
    ip_addresses,
    hosts,
    images,
    appliance_templates,
    applications,
    layers,
    appliance_groups,
    appliances,
    appliance_events,
    events,
    appliance_metrics,
    leases,
    cloudscripts,
    cloudscript_versions,
    event_rules,
    action_runs,
    script_jobs,
);
