//! The session reducer: who is signed in, from the start-up restore to login, refresh and logout.

use common::api::MeResponse;
use std::rc::Rc;
use yew::Reducible;

/// Where the session stands.
#[derive(Clone, Debug, PartialEq)]
pub enum Session {
    /// Start-up: asking the server whether the refresh cookie still holds a session.
    Restoring,
    /// Nobody is signed in; `notice` says why when it was not the user's own choice.
    Anonymous { notice: Option<String> },
    /// Signed in as `me`.
    SignedIn(MeResponse),
}

/// What happens to the session.
#[derive(Clone, Debug, PartialEq)]
pub enum SessionAction {
    /// The start-up restore answered: a session, or none.
    Restored(Option<MeResponse>),
    /// The start-up restore got no answer (server unreachable): show why on the login page.
    RestoreFailed(String),
    /// The login form succeeded.
    LoggedIn(MeResponse),
    /// A refresh succeeded; `me` may have changed.
    Refreshed(MeResponse),
    /// The user logged out.
    LoggedOut,
    /// The session could not be refreshed (expired, revoked, account disabled).
    Expired,
}

pub const EXPIRED_NOTICE: &str = "Your session has ended. Please log in again.";

impl Session {
    /// The next state.
    pub fn apply(&self, action: SessionAction) -> Session {
        match action {
            SessionAction::Restored(Some(me))
            | SessionAction::LoggedIn(me)
            | SessionAction::Refreshed(me) => Session::SignedIn(me),
            SessionAction::Restored(None) | SessionAction::LoggedOut => {
                Session::Anonymous { notice: None }
            }
            SessionAction::RestoreFailed(why) => Session::Anonymous { notice: Some(why) },
            // Only a live session can expire; a failed restore or login is no news to announce.
            SessionAction::Expired => match self {
                Session::SignedIn(_) => Session::Anonymous {
                    notice: Some(EXPIRED_NOTICE.into()),
                },
                other => other.clone(),
            },
        }
    }

    pub fn me(&self) -> Option<&MeResponse> {
        match self {
            Session::SignedIn(me) => Some(me),
            _ => None,
        }
    }
}

impl Reducible for Session {
    type Action = SessionAction;

    fn reduce(self: Rc<Self>, action: SessionAction) -> Rc<Self> {
        let next = self.apply(action);
        // Yew skips the re-render for the same Rc: hand it back when nothing changed.
        if next == *self { self } else { Rc::new(next) }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use common::{Role, TenantId, TenantKind, UserId};

    pub(crate) fn me(role: Role) -> MeResponse {
        MeResponse {
            id: UserId::new(),
            email: format!("{role}@example.test"),
            name: format!("A {role}"),
            role,
            tenant_id: TenantId::new(),
            tenant_name: "Acme".into(),
            tenant_kind: if role == Role::Operator {
                TenantKind::Provider
            } else {
                TenantKind::Customer
            },
        }
    }

    #[test]
    fn restore_login_refresh_logout() {
        let alice = me(Role::Admin);
        let s = Session::Restoring.apply(SessionAction::Restored(None));
        assert_eq!(s, Session::Anonymous { notice: None });
        let s = s.apply(SessionAction::LoggedIn(alice.clone()));
        assert_eq!(s.me(), Some(&alice));
        let mut promoted = alice.clone();
        promoted.role = Role::User;
        let s = s.apply(SessionAction::Refreshed(promoted.clone()));
        assert_eq!(s.me().map(|m| m.role), Some(Role::User));
        assert_eq!(
            s.apply(SessionAction::LoggedOut),
            Session::Anonymous { notice: None }
        );
        assert_eq!(
            Session::Restoring.apply(SessionAction::Restored(Some(alice.clone()))),
            Session::SignedIn(alice)
        );
        assert_eq!(
            Session::Restoring.apply(SessionAction::RestoreFailed("down".into())),
            Session::Anonymous {
                notice: Some("down".into())
            }
        );
    }

    #[test]
    fn only_a_live_session_expires_with_a_notice() {
        let s = Session::SignedIn(me(Role::User)).apply(SessionAction::Expired);
        assert_eq!(
            s,
            Session::Anonymous {
                notice: Some(EXPIRED_NOTICE.into())
            }
        );
        assert_eq!(
            Session::Restoring.apply(SessionAction::Expired),
            Session::Restoring
        );
        let anon = Session::Anonymous { notice: None };
        assert_eq!(anon.apply(SessionAction::Expired), anon);
    }

    #[test]
    fn the_reducer_keeps_the_same_rc_when_nothing_changes() {
        let anon = Rc::new(Session::Anonymous { notice: None });
        let same = anon.clone().reduce(SessionAction::Expired);
        assert!(Rc::ptr_eq(&anon, &same));
        let changed = anon
            .clone()
            .reduce(SessionAction::LoggedIn(me(Role::Finance)));
        assert!(!Rc::ptr_eq(&anon, &changed));
    }
}
