//! The client's routes for applications and their automation: applications, appliances and group
//! sizes, CloudScripts with their versions, previews and runs, event rules, their runs and jobs.

use super::client::{ApiClient, PAGE, PAGE_MAX, empty, page_query};
use super::error::ApiError;
use common::api::{
    ApplianceResponse, ApplicationResponse, CreateRuleRequest, CreateScriptRequest, GroupResponse,
    JobResponse, Page, RenderRequest, RenderResponse, RuleResponse, RunResponse, RunScriptRequest,
    ScaleGroupRequest, ScriptResponse, ScriptVersionRequest, ScriptVersionResponse,
    UpdateRuleRequest,
};
use common::{ApplicationId, GroupId, JobId, ProjectId, RuleId, ScriptId};
use gloo_net::http::Method;

impl ApiClient {
    // ---- applications ----

    pub async fn list_applications(
        &self,
        project: ProjectId,
        cursor: Option<&str>,
    ) -> Result<Page<ApplicationResponse>, ApiError> {
        self.get(&format!(
            "/projects/{project}/applications{}",
            page_query(PAGE, cursor)
        ))
        .await
    }

    pub async fn get_application(
        &self,
        id: ApplicationId,
    ) -> Result<ApplicationResponse, ApiError> {
        self.get(&format!("/applications/{id}")).await
    }

    /// The live appliances of an application (a page of up to 500).
    pub async fn list_appliances(
        &self,
        id: ApplicationId,
        cursor: Option<&str>,
    ) -> Result<Page<ApplianceResponse>, ApiError> {
        self.get(&format!(
            "/applications/{id}/appliances{}",
            page_query(PAGE_MAX, cursor)
        ))
        .await
    }

    /// Ask an appliance to stop, start, reboot or terminate (202: the orchestrator does it).
    pub async fn appliance_action(
        &self,
        id: common::ApplianceId,
        action: crate::state::live::ApplianceAction,
    ) -> Result<ApplianceResponse, ApiError> {
        self.post_empty(&format!("/appliances/{id}/{}", action.verb()))
            .await
    }

    /// Set a group's desired size (within its min and max and the tenant's quota).
    pub async fn scale_group(&self, id: GroupId, desired: u32) -> Result<GroupResponse, ApiError> {
        self.send(
            Method::PUT,
            &format!("/groups/{id}/desired"),
            &ScaleGroupRequest { desired },
        )
        .await
    }

    // ---- CloudScripts ----

    /// The tenant's scripts and the provider's library (operators: the library).
    pub async fn list_scripts(
        &self,
        cursor: Option<&str>,
    ) -> Result<Page<ScriptResponse>, ApiError> {
        self.get(&format!("/cloudscripts{}", page_query(PAGE_MAX, cursor)))
            .await
    }

    pub async fn get_script(&self, id: ScriptId) -> Result<ScriptResponse, ApiError> {
        self.get(&format!("/cloudscripts/{id}")).await
    }

    pub async fn create_script(
        &self,
        req: &CreateScriptRequest,
    ) -> Result<ScriptResponse, ApiError> {
        self.send(Method::POST, "/cloudscripts", req).await
    }

    pub async fn delete_script(&self, id: ScriptId) -> Result<(), ApiError> {
        let raw = self
            .call(Method::DELETE, &format!("/cloudscripts/{id}"), None, true)
            .await?;
        empty(raw)
    }

    /// Every version, oldest first.
    pub async fn script_versions(
        &self,
        id: ScriptId,
    ) -> Result<Vec<ScriptVersionResponse>, ApiError> {
        self.get(&format!("/cloudscripts/{id}/versions")).await
    }

    pub async fn add_script_version(
        &self,
        id: ScriptId,
        req: &ScriptVersionRequest,
    ) -> Result<ScriptResponse, ApiError> {
        self.send(Method::POST, &format!("/cloudscripts/{id}/versions"), req)
            .await
    }

    pub async fn render_script(
        &self,
        id: ScriptId,
        req: &RenderRequest,
    ) -> Result<RenderResponse, ApiError> {
        self.send(Method::POST, &format!("/cloudscripts/{id}/render"), req)
            .await
    }

    /// Run a script now; answers its jobs (one per appliance), which the agents then pull.
    pub async fn run_script(
        &self,
        id: ScriptId,
        req: &RunScriptRequest,
    ) -> Result<Vec<JobResponse>, ApiError> {
        self.send(Method::POST, &format!("/cloudscripts/{id}/run"), req)
            .await
    }

    pub async fn get_job(&self, id: JobId) -> Result<JobResponse, ApiError> {
        self.get(&format!("/jobs/{id}")).await
    }

    // ---- rules and runs ----

    pub async fn list_rules(
        &self,
        app: ApplicationId,
        cursor: Option<&str>,
    ) -> Result<Page<RuleResponse>, ApiError> {
        self.get(&format!(
            "/applications/{app}/rules{}",
            page_query(PAGE_MAX, cursor)
        ))
        .await
    }

    pub async fn create_rule(
        &self,
        app: ApplicationId,
        req: &CreateRuleRequest,
    ) -> Result<RuleResponse, ApiError> {
        self.send(Method::POST, &format!("/applications/{app}/rules"), req)
            .await
    }

    pub async fn update_rule(
        &self,
        id: RuleId,
        req: &UpdateRuleRequest,
    ) -> Result<RuleResponse, ApiError> {
        self.send(Method::PATCH, &format!("/rules/{id}"), req).await
    }

    pub async fn delete_rule(&self, id: RuleId) -> Result<(), ApiError> {
        let raw = self
            .call(Method::DELETE, &format!("/rules/{id}"), None, true)
            .await?;
        empty(raw)
    }

    /// An application's runs, newest first.
    pub async fn list_runs(
        &self,
        app: ApplicationId,
        cursor: Option<&str>,
    ) -> Result<Page<RunResponse>, ApiError> {
        self.get(&format!(
            "/applications/{app}/runs{}",
            page_query(PAGE, cursor)
        ))
        .await
    }
}
