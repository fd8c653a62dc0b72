//! The one typed client of `/api/v1`: every page calls the API through it, with the `common` DTOs.
//!
//! The access token lives in memory only (never in storage). The refresh token is the HttpOnly
//! `si_refresh` cookie, which the browser sends to `/api/v1/auth/*` by itself. A 401 on an authenticated
//! route triggers one refresh (shared by concurrent callers, see `single_flight`) and one resend
//! (see `flow`); a 401 after that ends the session and tells the app through the session listener.

use super::error::ApiError;
use super::flow::{self, Attempt, Next};
use super::single_flight::SingleFlight;
use common::api::{
    AssignmentResponse, ChangePasswordRequest, CreateProjectRequest, CreateTenantRequest,
    CreateUserRequest, CreatedTenantResponse, LoginRequest, MeResponse, Page, ProjectResponse,
    TenantResponse, TokenResponse, UpdateProjectRequest, UpdateUserRequest, UserResponse,
};
use common::{ProjectId, TenantId, UserId};
use gloo_net::http::{Method, RequestBuilder};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::cell::{Cell, RefCell};
use std::future::Future;
use std::rc::Rc;

/// What the client tells the app about the session.
#[derive(Clone, Debug, PartialEq)]
pub enum SessionEvent {
    /// A refresh succeeded; `me` may have changed (a new role, a renamed tenant).
    Refreshed(MeResponse),
    /// The session could not be refreshed: log in again.
    Lost,
}

type Listener = Rc<dyn Fn(SessionEvent)>;

struct Inner {
    base: String,
    token: RefCell<Option<String>>,
    generation: Cell<u64>,
    refresh: SingleFlight<Result<TokenResponse, ApiError>>,
    listener: RefCell<Option<Listener>>,
}

/// A cheap handle (clones share one token store); equal when it is the same store.
#[derive(Clone)]
pub struct ApiClient {
    inner: Rc<Inner>,
}

impl PartialEq for ApiClient {
    fn eq(&self, other: &Self) -> bool {
        Rc::ptr_eq(&self.inner, &other.inner)
    }
}

/// An answer before it is decoded.
pub(super) struct Raw {
    status: u16,
    retry_after: Option<String>,
    text: String,
}

/// `?limit=…&cursor=…` for a list route (the cursor is opaque, so it is percent-encoded).
pub fn page_query(limit: u32, cursor: Option<&str>) -> String {
    let mut q = format!("?limit={limit}");
    if let Some(c) = cursor {
        q.push_str("&cursor=");
        for b in c.bytes() {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                q.push(char::from(b));
            } else {
                q.push_str(&format!("%{b:02X}"));
            }
        }
    }
    q
}

/// Items per page of the lists.
pub const PAGE: u32 = 50;
/// The route's maximum page, used where a picker needs every user of a tenant at once.
pub const PAGE_MAX: u32 = 500;

impl ApiClient {
    /// A client for the API under `base` (such as `/api/v1`, same origin).
    pub fn new(base: &str) -> Self {
        Self {
            inner: Rc::new(Inner {
                base: base.trim_end_matches('/').to_owned(),
                token: RefCell::new(None),
                generation: Cell::new(0),
                refresh: SingleFlight::default(),
                listener: RefCell::new(None),
            }),
        }
    }

    /// Receive session events (one listener: the app's session state).
    pub fn set_listener(&self, f: impl Fn(SessionEvent) + 'static) {
        *self.inner.listener.borrow_mut() = Some(Rc::new(f));
    }

    fn emit(&self, e: SessionEvent) {
        let listener = self.inner.listener.borrow().clone();
        if let Some(l) = listener {
            l(e);
        }
    }

    fn set_token(&self, token: Option<String>) {
        *self.inner.token.borrow_mut() = token;
        self.inner.generation.set(self.inner.generation.get() + 1);
    }

    /// The access token held now.
    pub(super) fn token(&self) -> Option<String> {
        self.inner.token.borrow().clone()
    }

    /// The address of an API route.
    pub(super) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.inner.base)
    }

    /// Refresh the access token now (a live stream's token expired); a refusal ends the session.
    pub async fn refresh_session(&self) -> Result<(), ApiError> {
        match self.refresh_shared().await {
            Ok(_) => Ok(()),
            Err(e) if e.status() == Some(401) => Err(self.lose_session()),
            Err(e) => Err(e),
        }
    }

    /// Whether an access token is held.
    pub fn has_token(&self) -> bool {
        self.inner.token.borrow().is_some()
    }

    // ---- auth ----

    /// Log in; keeps the access token (the cookie is set by the server).
    pub async fn login(&self, req: &LoginRequest) -> Result<MeResponse, ApiError> {
        let raw = self
            .call(Method::POST, "/auth/login", Some(json(req)?), false)
            .await?;
        let tokens: TokenResponse = decode(raw)?;
        self.set_token(Some(tokens.access_token));
        Ok(tokens.me)
    }

    /// Resume the session of the refresh cookie (at start-up): `None` when there is none to resume.
    pub async fn restore(&self) -> Result<Option<MeResponse>, ApiError> {
        match self.refresh_shared().await {
            Ok(t) => Ok(Some(t.me)),
            Err(e) if e.status() == Some(401) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// End the session: the server revokes the cookie's session and clears the cookie.
    pub async fn logout(&self) -> Result<(), ApiError> {
        let res = self.call(Method::POST, "/auth/logout", None, false).await;
        self.set_token(None);
        empty(res?)
    }

    pub async fn me(&self) -> Result<MeResponse, ApiError> {
        decode(self.call(Method::GET, "/auth/me", None, true).await?)
    }

    /// Change the caller's password; the server ends the other sessions and hands back fresh tokens.
    pub async fn change_password(&self, req: &ChangePasswordRequest) -> Result<(), ApiError> {
        let raw = self
            .call(Method::POST, "/auth/password", Some(json(req)?), true)
            .await?;
        let tokens: TokenResponse = decode(raw)?;
        self.set_token(Some(tokens.access_token));
        Ok(())
    }

    // ---- tenants (operators) ----

    pub async fn list_tenants(
        &self,
        cursor: Option<&str>,
    ) -> Result<Page<TenantResponse>, ApiError> {
        self.get(&format!("/tenants{}", page_query(PAGE, cursor)))
            .await
    }

    pub async fn create_tenant(
        &self,
        req: &CreateTenantRequest,
    ) -> Result<CreatedTenantResponse, ApiError> {
        self.send(Method::POST, "/tenants", req).await
    }

    pub async fn suspend_tenant(&self, id: TenantId) -> Result<TenantResponse, ApiError> {
        self.post_empty(&format!("/tenants/{id}/suspend")).await
    }

    pub async fn reactivate_tenant(&self, id: TenantId) -> Result<TenantResponse, ApiError> {
        self.post_empty(&format!("/tenants/{id}/reactivate")).await
    }

    // ---- users (admins; operators for the provider's own users) ----

    pub async fn list_users(
        &self,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<Page<UserResponse>, ApiError> {
        self.get(&format!("/users{}", page_query(limit, cursor)))
            .await
    }

    pub async fn create_user(&self, req: &CreateUserRequest) -> Result<UserResponse, ApiError> {
        self.send(Method::POST, "/users", req).await
    }

    pub async fn update_user(
        &self,
        id: UserId,
        req: &UpdateUserRequest,
    ) -> Result<UserResponse, ApiError> {
        self.send(Method::PATCH, &format!("/users/{id}"), req).await
    }

    // ---- projects ----

    /// All of the tenant's projects for admins; the assigned ones for users.
    pub async fn list_projects(
        &self,
        cursor: Option<&str>,
    ) -> Result<Page<ProjectResponse>, ApiError> {
        self.get(&format!("/projects{}", page_query(PAGE, cursor)))
            .await
    }

    pub async fn get_project(&self, id: ProjectId) -> Result<ProjectResponse, ApiError> {
        self.get(&format!("/projects/{id}")).await
    }

    pub async fn create_project(
        &self,
        req: &CreateProjectRequest,
    ) -> Result<ProjectResponse, ApiError> {
        self.send(Method::POST, "/projects", req).await
    }

    pub async fn update_project(
        &self,
        id: ProjectId,
        req: &UpdateProjectRequest,
    ) -> Result<ProjectResponse, ApiError> {
        self.send(Method::PATCH, &format!("/projects/{id}"), req)
            .await
    }

    pub async fn delete_project(&self, id: ProjectId) -> Result<(), ApiError> {
        let raw = self
            .call(Method::DELETE, &format!("/projects/{id}"), None, true)
            .await?;
        empty(raw)
    }

    pub async fn list_members(
        &self,
        id: ProjectId,
        cursor: Option<&str>,
    ) -> Result<Page<AssignmentResponse>, ApiError> {
        self.get(&format!(
            "/projects/{id}/members{}",
            page_query(PAGE_MAX, cursor)
        ))
        .await
    }

    pub async fn assign(&self, p: ProjectId, u: UserId) -> Result<AssignmentResponse, ApiError> {
        let raw = self
            .call(
                Method::PUT,
                &format!("/projects/{p}/members/{u}"),
                None,
                true,
            )
            .await?;
        decode(raw)
    }

    pub async fn unassign(&self, p: ProjectId, u: UserId) -> Result<(), ApiError> {
        let raw = self
            .call(
                Method::DELETE,
                &format!("/projects/{p}/members/{u}"),
                None,
                true,
            )
            .await?;
        empty(raw)
    }

    // ---- plumbing ----

    pub(super) async fn get<R: DeserializeOwned>(&self, path: &str) -> Result<R, ApiError> {
        decode(self.call(Method::GET, path, None, true).await?)
    }

    pub(super) async fn send<B: Serialize, R: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: &B,
    ) -> Result<R, ApiError> {
        decode(self.call(method, path, Some(json(body)?), true).await?)
    }

    pub(super) async fn post_empty<R: DeserializeOwned>(&self, path: &str) -> Result<R, ApiError> {
        decode(self.call(Method::POST, path, None, true).await?)
    }

    /// Send, applying the retry policy of `flow`.
    pub(super) async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<String>,
        authenticated: bool,
    ) -> Result<Raw, ApiError> {
        let mut retried = false;
        loop {
            let sent_generation = self.inner.generation.get();
            let token = if authenticated {
                self.inner.token.borrow().clone()
            } else {
                None
            };
            let raw = self
                .transmit(method.clone(), path, body.clone(), token)
                .await?;
            let attempt = Attempt {
                status: raw.status,
                authenticated,
                retried,
                sent_generation,
                current_generation: self.inner.generation.get(),
            };
            match flow::next(attempt) {
                Next::Done => return Ok(raw),
                Next::RetryWithCurrent => retried = true,
                Next::RefreshThenRetry => match self.refresh_shared().await {
                    Ok(_) => retried = true,
                    Err(_) => return Err(self.lose_session()),
                },
                Next::SessionLost => return Err(self.lose_session()),
            }
        }
    }

    fn lose_session(&self) -> ApiError {
        self.set_token(None);
        self.emit(SessionEvent::Lost);
        ApiError::SessionExpired
    }

    /// One `POST /auth/refresh` for all who need it now; stores the new token and announces `me`.
    fn refresh_shared(&self) -> impl Future<Output = Result<TokenResponse, ApiError>> + 'static {
        let this = self.clone();
        self.inner.refresh.run(move || async move {
            let raw = this
                .transmit(Method::POST, "/auth/refresh", None, None)
                .await?;
            let tokens: TokenResponse = decode(raw)?;
            this.set_token(Some(tokens.access_token.clone()));
            this.emit(SessionEvent::Refreshed(tokens.me.clone()));
            Ok(tokens)
        })
    }

    /// One HTTP exchange through the browser's `fetch`.
    async fn transmit(
        &self,
        method: Method,
        path: &str,
        body: Option<String>,
        token: Option<String>,
    ) -> Result<Raw, ApiError> {
        let url = format!("{}{path}", self.inner.base);
        let mut rb = RequestBuilder::new(&url)
            .method(method)
            .header("accept", "application/json, application/problem+json");
        if let Some(t) = token {
            rb = rb.header("authorization", &format!("Bearer {t}"));
        }
        let req = match body {
            Some(b) => rb.header("content-type", "application/json").body(b),
            None => rb.build(),
        }
        .map_err(|e| ApiError::Network(e.to_string()))?;
        let resp = req
            .send()
            .await
            .map_err(|e| ApiError::Network(e.to_string()))?;
        let status = resp.status();
        let retry_after = resp.headers().get("retry-after");
        let text = resp
            .text()
            .await
            .map_err(|e| ApiError::Network(e.to_string()))?;
        Ok(Raw {
            status,
            retry_after,
            text,
        })
    }
}

fn json<B: Serialize>(body: &B) -> Result<String, ApiError> {
    serde_json::to_string(body).map_err(|e| ApiError::Decode(e.to_string()))
}

fn decode<R: DeserializeOwned>(raw: Raw) -> Result<R, ApiError> {
    if !(200..300).contains(&raw.status) {
        return Err(ApiError::from_response(
            raw.status,
            &raw.text,
            raw.retry_after.as_deref(),
        ));
    }
    serde_json::from_str(&raw.text).map_err(|e| ApiError::Decode(e.to_string()))
}

pub(super) fn empty(raw: Raw) -> Result<(), ApiError> {
    if (200..300).contains(&raw.status) {
        Ok(())
    } else {
        Err(ApiError::from_response(
            raw.status,
            &raw.text,
            raw.retry_after.as_deref(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_queries_encode_the_opaque_cursor() {
        assert_eq!(page_query(50, None), "?limit=50");
        assert_eq!(
            page_query(10, Some("abc-_.~XYZ09")),
            "?limit=10&cursor=abc-_.~XYZ09"
        );
        assert_eq!(
            page_query(10, Some("a+b/c=d&e")),
            "?limit=10&cursor=a%2Bb%2Fc%3Dd%26e"
        );
    }

    #[test]
    fn answers_decode_or_become_problems() {
        let ok = Raw {
            status: 200,
            retry_after: None,
            text: r#"{"items":[],"next_cursor":"n1"}"#.into(),
        };
        let page: Result<Page<ProjectResponse>, _> = decode(ok);
        assert_eq!(page.map(|p| p.next_cursor), Ok(Some("n1".to_owned())));

        let bad = Raw {
            status: 200,
            retry_after: None,
            text: "not json".into(),
        };
        assert!(matches!(
            decode::<Page<ProjectResponse>>(bad),
            Err(ApiError::Decode(_))
        ));

        let limited = Raw {
            status: 429,
            retry_after: Some("3".into()),
            text: r#"{"type":"x","title":"t","status":429,"code":"rate_limited"}"#.into(),
        };
        assert_eq!(
            decode::<TokenResponse>(limited).map_err(|e| e.message()),
            Err("Too many attempts. Try again in 3 seconds.".to_owned())
        );
        let gone = Raw {
            status: 204,
            retry_after: None,
            text: String::new(),
        };
        assert_eq!(empty(gone), Ok(()));
    }

    #[test]
    fn clients_compare_by_their_token_store() {
        let a = ApiClient::new("/api/v1/");
        let b = a.clone();
        assert!(a == b);
        assert!(a != ApiClient::new("/api/v1"));
        assert!(!a.has_token());
        a.set_token(Some("t".into()));
        assert!(b.has_token(), "clones share the token");
    }
}
