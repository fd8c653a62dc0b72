//! The client's routes for the provider's compute (operators): pools, their hosts, and the simulated
//! pool's fault injection.

use super::client::{ApiClient, PAGE_MAX, empty, page_query};
use super::error::ApiError;
use common::api::{
    CreateHostRequest, HostResponse, Page, PoolResponse, SimFaults, UpdateHostRequest,
};
use common::{HostId, PoolId};
use gloo_net::http::Method;

impl ApiClient {
    pub async fn list_pools(&self, cursor: Option<&str>) -> Result<Page<PoolResponse>, ApiError> {
        self.get(&format!("/pools{}", page_query(PAGE_MAX, cursor)))
            .await
    }

    pub async fn list_hosts(
        &self,
        pool: PoolId,
        cursor: Option<&str>,
    ) -> Result<Page<HostResponse>, ApiError> {
        self.get(&format!(
            "/pools/{pool}/hosts{}",
            page_query(PAGE_MAX, cursor)
        ))
        .await
    }

    pub async fn create_host(
        &self,
        pool: PoolId,
        req: &CreateHostRequest,
    ) -> Result<HostResponse, ApiError> {
        self.send(Method::POST, &format!("/pools/{pool}/hosts"), req)
            .await
    }

    pub async fn update_host(
        &self,
        id: HostId,
        req: &UpdateHostRequest,
    ) -> Result<HostResponse, ApiError> {
        self.send(Method::PATCH, &format!("/hosts/{id}"), req).await
    }

    pub async fn delete_host(&self, id: HostId) -> Result<(), ApiError> {
        empty(
            self.call(Method::DELETE, &format!("/hosts/{id}"), None, true)
                .await?,
        )
    }

    /// Simulated pool: the host stops answering (its appliances die with it).
    pub async fn sim_kill_host(&self, id: HostId) -> Result<(), ApiError> {
        empty(
            self.call(Method::POST, &format!("/sim/hosts/{id}/kill"), None, true)
                .await?,
        )
    }

    /// Simulated pool: the host answers again, empty.
    pub async fn sim_revive_host(&self, id: HostId) -> Result<(), ApiError> {
        empty(
            self.call(Method::POST, &format!("/sim/hosts/{id}/revive"), None, true)
                .await?,
        )
    }

    pub async fn sim_faults(&self) -> Result<SimFaults, ApiError> {
        self.get("/sim/faults").await
    }

    pub async fn set_sim_faults(&self, faults: &SimFaults) -> Result<SimFaults, ApiError> {
        self.send(Method::PUT, "/sim/faults", faults).await
    }
}
