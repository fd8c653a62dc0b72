//! The client's retry policy, pure so that it is table-tested: after each answer, decide whether to hand
//! it to the caller, resend it with a token another call already refreshed, refresh once through the
//! HttpOnly cookie and resend, or declare the session over. A request is resent at most once.

/// One answer, seen by the policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Attempt {
    /// The HTTP status of the answer.
    pub status: u16,
    /// Whether the route needs the access token (login and refresh do not: their 401s are final).
    pub authenticated: bool,
    /// Whether this answer is already the one resend.
    pub retried: bool,
    /// The token generation the request was sent with.
    pub sent_generation: u64,
    /// The token generation now (it moves on every login, refresh or password change).
    pub current_generation: u64,
}

/// What the client does next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Next {
    /// Hand the answer to the caller (success or an error to show).
    Done,
    /// Another call refreshed the token while this one was in flight: resend with the current token.
    RetryWithCurrent,
    /// Refresh the access token (one refresh shared by every concurrent caller), then resend.
    RefreshThenRetry,
    /// A 401 on the resend: the session is over.
    SessionLost,
}

/// Decide what follows `a`.
pub fn next(a: Attempt) -> Next {
    if a.status != 401 || !a.authenticated {
        return Next::Done;
    }
    if a.retried {
        return Next::SessionLost;
    }
    if a.current_generation != a.sent_generation {
        Next::RetryWithCurrent
    } else {
        Next::RefreshThenRetry
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(status: u16, authenticated: bool, retried: bool, sent: u64, now: u64) -> Attempt {
        Attempt {
            status,
            authenticated,
            retried,
            sent_generation: sent,
            current_generation: now,
        }
    }

    #[test]
    fn table() {
        let table = [
            // successes and ordinary errors go back to the caller
            (at(200, true, false, 1, 1), Next::Done),
            (at(204, true, true, 1, 2), Next::Done),
            (at(403, true, false, 1, 1), Next::Done),
            (at(422, true, false, 1, 1), Next::Done),
            // a 401 of login or refresh is final: no refresh loop
            (at(401, false, false, 1, 1), Next::Done),
            // the first 401 refreshes once …
            (at(401, true, false, 1, 1), Next::RefreshThenRetry),
            // … unless someone else already did, then the current token is used
            (at(401, true, false, 1, 2), Next::RetryWithCurrent),
            // a 401 on the resend ends the session: one retry only
            (at(401, true, true, 2, 2), Next::SessionLost),
            (at(401, true, true, 1, 3), Next::SessionLost),
        ];
        for (attempt, want) in table {
            assert_eq!(next(attempt), want, "{attempt:?}");
        }
    }
}
